"""The demo bank's pricing engine: a gRPC service (grpcio) over its own SQLite data.

Messages are built at run time from the shipped descriptor set (specs/pricing.binpb, compiled
from specs/pricing.proto): no generated code. Server reflection is on, so the gateway learns the
service from the server itself; the standard health service answers for /readyz. Every pricing
call needs the bearer token only the gateway holds, sent as `authorization` metadata.

    python -m pasarela.demo.pricing --port 9107 --db pricing.db      (token from DEMO_SYSTEM_TOKEN)
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import time
from concurrent import futures
from decimal import Decimal
from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from pasarela.demo.common import connect, exit_with_parent, same

SERVICE = "bank.pricing.v1.PricingEngine"
QUOTE_VALID_FOR = dt.timedelta(seconds=60)
# product, name, priced by (rate | fee), list price (percent a year, or a monthly fee), currency
PRODUCTS = [
    ("MORTGAGE-30Y", "30-year fixed mortgage", "rate", "3.85", "EUR"),
    ("PERSONAL-LOAN", "Personal loan", "rate", "7.90", "EUR"),
    ("AUTO-LOAN", "Car loan", "rate", "5.40", "EUR"),
    ("SAVINGS-PLUS", "Savings Plus account", "rate", "2.10", "EUR"),
    ("CARD-GOLD", "Gold credit card", "fee", "12.50", "EUR"),
]
# What each segment saves against the list price, in percent (savings rates go up instead).
SEGMENT_DISCOUNTS = [("RETAIL", 0.0), ("PRIVATE", 8.0), ("BUSINESS", 4.0)]


def load_pool() -> descriptor_pool.DescriptorPool:
    content = resources.files("pasarela.demo").joinpath("specs", "pricing.binpb").read_bytes()
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(content).file:
        pool.Add(file)
    return pool


def market_move(now: float) -> Decimal:
    """Prices move with the market: a small swing over each ten minutes (deterministic, so
    the demo needs no feed), up to ±0.05 percentage points."""
    return Decimal(round(0.05 * math.sin(now / 600 * 2 * math.pi), 3)).quantize(Decimal("0.001"))


class PricingEngine:
    def __init__(self, db_path: str, token: str) -> None:
        self.db_path = db_path
        self.token = token
        self.pool = load_pool()
        self.request_class = self._message("bank.pricing.v1.GetProductPriceRequest")
        self.price_class = self._message("bank.pricing.v1.ProductPrice")
        with connect(db_path) as db:
            db.executescript(
                """
                CREATE TABLE IF NOT EXISTS products (product_id TEXT PRIMARY KEY, name TEXT, priced_by TEXT,
                  list_price TEXT, currency TEXT);
                CREATE TABLE IF NOT EXISTS segments (segment TEXT PRIMARY KEY, discount_percent REAL);
                """
            )
            db.executemany("INSERT OR IGNORE INTO products VALUES (?,?,?,?,?)", PRODUCTS)
            db.executemany("INSERT OR IGNORE INTO segments VALUES (?,?)", SEGMENT_DISCOUNTS)

    def _message(self, name: str) -> Any:
        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(name))

    def get_product_price(self, request: Any, context: grpc.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata())
        given = metadata.get("authorization")
        if not same(given if isinstance(given, str) else None, f"Bearer {self.token}"):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "the pricing engine needs its bearer token")
        segment = self.pool.FindEnumTypeByName("bank.pricing.v1.CustomerSegment").values_by_number.get(
            request.customer_segment
        )
        if segment is None or segment.number == 0:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "customer_segment is required (RETAIL, PRIVATE or BUSINESS)"
            )
        with connect(self.db_path) as db:
            product = db.execute(
                "SELECT * FROM products WHERE product_id = ?", (request.product_id,)
            ).fetchone()
            discount = db.execute(
                "SELECT discount_percent FROM segments WHERE segment = ?", (segment.name,)
            ).fetchone()
        if product is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no product {request.product_id!r}")
        now = time.time()
        share = Decimal(str(discount["discount_percent"] if discount else 0.0)) / 100
        price = self.price_class(
            product_id=product["product_id"],
            product_name=product["name"],
            customer_segment=segment.number,
            segment_discount_percent=float(share * 100),
        )
        listed = Decimal(product["list_price"])
        if product["priced_by"] == "rate":
            saver = product["product_id"].startswith("SAVINGS")
            rate = listed * (1 + share) if saver else listed * (1 - share)
            price.rate_percent = float((rate + market_move(now)).quantize(Decimal("0.001")))
        else:
            price.monthly_fee.amount = str((listed * (1 - share)).quantize(Decimal("0.01")))
            price.monthly_fee.currency = product["currency"]
        quoted = dt.datetime.fromtimestamp(now, dt.UTC)
        price.quoted_at.FromDatetime(quoted)
        price.valid_until.FromDatetime(quoted + QUOTE_VALID_FOR)
        return price

    def server(self, port: int) -> grpc.Server:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.unary_unary_rpc_method_handler(
            self.get_product_price,
            request_deserializer=self.request_class.FromString,
            response_serializer=self.price_class.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(SERVICE, {"GetProductPrice": handler})]
        )
        checker = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(checker, server)
        for name in ("", SERVICE):
            checker.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            (SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server, pool=self.pool
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pasarela.demo.pricing")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args(argv)
    token = os.environ.get("DEMO_SYSTEM_TOKEN")
    if not token:
        sys.exit("DEMO_SYSTEM_TOKEN must hold the credential this system accepts")
    server = PricingEngine(args.db, token).server(args.port)
    server.start()
    exit_with_parent()
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=None)


if __name__ == "__main__":
    main()
