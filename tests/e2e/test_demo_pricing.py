"""The demo's pricing engine over gRPC, through the REST door: found by reflection, called with
its own credential, never cached, its statuses mapped, granted to the sales bot only."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import grpc
import httpx
import pytest

from tests.e2e.test_demo import running_demo

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_the_pricing_engine_answers_the_sales_bot_in_real_time(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        sales = {"Authorization": f"Bearer {demo.keys['sales-bot']}"}
        support = {"Authorization": f"Bearer {demo.keys['support-bot']}"}
        target, pricing_pid = demo.systems["pricing"]
        async with httpx.AsyncClient(base_url=demo.rest_url, timeout=15) as http:

            async def price(arguments: dict[str, str], headers: dict[str, str] = sales) -> httpx.Response:
                return await http.post(
                    "/tools/get_product_price:call", json={"arguments": arguments}, headers=headers
                )

            tools = {t["name"]: t for t in (await http.get("/tools", headers=sales)).json()["tools"]}
            schema = tools["get_product_price"]["inputSchema"]
            assert set(schema["properties"]) == {"product_id", "customer_segment"}
            assert "PRIVATE" in schema["properties"]["customer_segment"]["enum"]

            mortgage = await price({"product_id": "MORTGAGE-30Y", "customer_segment": "PRIVATE"})
            assert mortgage.status_code == 200, mortgage.text
            quote = mortgage.json()["result"]
            assert quote["product_name"] == "30-year fixed mortgage"
            assert quote["customer_segment"] == "PRIVATE" and quote["segment_discount_percent"] == 8.0
            assert 3.4 < quote["rate_percent"] < 3.7 and "monthly_fee" not in quote
            card = (await price({"product_id": "CARD-GOLD", "customer_segment": "BUSINESS"})).json()["result"]
            assert (
                card["monthly_fee"] == {"amount": "12.00", "currency": "EUR"} and "rate_percent" not in card
            )

            # Real-time pricing, no cache: every call is a new quote from the engine.
            again = await price({"product_id": "MORTGAGE-30Y", "customer_segment": "PRIVATE"})
            assert again.json()["result"]["quoted_at"] != quote["quoted_at"]
            assert "cache" not in again.json()["meta"]

            wrong = await price({"product_id": "MORTGAGE-30Y", "customer_segment": "GOLD"})
            assert wrong.status_code == 422 and wrong.json()["errors"][0]["path"] == "/customer_segment"
            unspecified = await price({"product_id": "MORTGAGE-30Y"})
            assert unspecified.status_code == 502
            assert unspecified.json()["grpc_status"] == "INVALID_ARGUMENT"
            assert "customer_segment is required" in unspecified.json()["detail"]
            unknown = await price({"product_id": "YACHT", "customer_segment": "RETAIL"})
            assert unknown.status_code == 502 and unknown.json()["grpc_status"] == "NOT_FOUND"

            # The support bot has no grant.
            assert "get_product_price" not in {
                t["name"] for t in (await http.get("/tools", headers=support)).json()["tools"]
            }
            denied = await price({"product_id": "CARD-GOLD", "customer_segment": "RETAIL"}, support)
            assert denied.status_code == 403

            ready = await http.get(demo.rest_url.removesuffix("/v1") + "/readyz")
            assert ready.json()["backends"]["pricing"]["status"] == "serving"

        # The engine takes only the gateway's credential.
        async with grpc.aio.insecure_channel(target) as channel:
            bare: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/bank.pricing.v1.PricingEngine/GetProductPrice"
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await bare(b"", timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

        # The engine stopped: a 503 the breaker counts, and /readyz says so.
        os.kill(pricing_pid, signal.SIGTERM)
        async with httpx.AsyncClient(base_url=demo.rest_url, timeout=15) as http:
            for _ in range(50):
                gone = await http.post(
                    "/tools/get_product_price:call",
                    json={"arguments": {"product_id": "CARD-GOLD", "customer_segment": "RETAIL"}},
                    headers=sales,
                )
                if gone.status_code != 200:
                    break
                await anyio.sleep(0.1)
            assert gone.status_code == 503, gone.text
            assert gone.json()["code"] == "upstream_unavailable"
