"""Events: ingest-to-delivery latency at a steady rate, and sustained ingest per source kind.

    .venv/bin/python bench/events.py [--state sqlite|postgresql] [--rate 200] [--seconds 20]

Latency: signed webhooks POSTed to `pasarela serve` (its own process; `--inline`: a uvicorn in
this one) at `--rate` events/s (open loop), one SSE subscriber; each event's send time, 202 and
arrival at the subscriber are noted. Throughput: as
many events as a source kind can take — webhooks with 16 senders to `pasarela serve`, Redis Streams, NATS JetStream
and RabbitMQ preloaded with N messages, consumed until all are stored; PostgreSQL logical decoding
of N rows inserted 500 per transaction (needs wal_level=logical), and polling a SQLite table of N
rows. Gateway, senders and
subscriber share this machine (and this process for the gateway and the subscriber)."""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.events.support import (
    SUPPORT_EU_KEY,
    config_text,
    customer_updated,
    drop_cdc_objects,
    replication_slot_made,
    served,
    standard_signed,
    write,
)

from bench.rawhttp import RawPool, sse_events
from pasarela.assembly import Runtime


@asynccontextmanager
async def gateway(config: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The gateway in this process, its start-up garbage out of the collector's sight as
    `pasarela serve` does (full collections otherwise stall the event loop for 100+ ms)."""
    async with served(config) as (client, runtime):
        gc.collect()
        gc.freeze()
        yield client, runtime


PG = os.environ.get("PASARELA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def reset_postgres() -> None:
    from tests.conftest import _reset_postgres

    problem = await _reset_postgres(PG)
    if problem:
        raise SystemExit(problem)


def state_for(kind: str, directory: Path) -> str:
    return PG if kind == "postgresql" else f"sqlite:///{directory / 'state.db'}"


@asynccontextmanager
async def separate_gateway(config: Path) -> AsyncIterator[tuple[httpx.AsyncClient, None]]:
    """`pasarela serve` in its own process, as deployed: the senders and the subscriber here do
    not take the gateway's event loop (they still share the machine's two cores)."""
    from tests.events.support import ENV
    from tests.helpers.processes import served as serve
    from tests.helpers.servers import free_port

    port = free_port()
    with serve(config, port, ENV, log=config.with_name("gateway.log")) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            yield client, None


async def latency(kind: str, rate: float, seconds: float, process: bool = True) -> dict[str, float]:
    directory = Path(tempfile.mkdtemp())
    if kind == "postgresql":
        await reset_postgres()
    arrived: dict[str, float] = {}
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}  # when the 202 came back (the event committed)
    config = write(directory, config_text(state_for(kind, directory)))
    total = int(rate * seconds)
    async with separate_gateway(config) if process else gateway(config) as (client, _):
        url = str(client.base_url)
        # The load generator must cost little beside the gateway on two cores: pre-signed,
        # pre-encoded requests on keep-alive connections, the stream read raw.
        pool = RawPool(url, 64)
        await pool.open()
        requests = []
        for n in range(total):
            body = orjson.dumps(customer_updated("12345", "EU", event_id=f"b{n}"))
            headers = standard_signed(body, f"m{n}") | {"Connection": "keep-alive"}
            requests.append(
                (f"b{n}", RawPool.encode("POST", "/v1/events/crm", f"{pool.host}:{pool.port}", headers, body))
            )

        async def subscribe() -> None:
            async for data in sse_events(
                url, "/v1/events/stream?types=customer_updated", {"Authorization": f"Bearer {SUPPORT_EU_KEY}"}
            ):
                arrived[orjson.loads(data)["id"]] = time.perf_counter()

        async def send(event_id: str, request: bytes) -> None:
            sent[event_id] = time.perf_counter()
            status = await pool.send(request)
            acked[event_id] = time.perf_counter()
            assert status == 202, status

        async with anyio.create_task_group() as group:
            group.start_soon(subscribe)
            await anyio.sleep(0.5)
            start = time.perf_counter()
            for n, (event_id, request) in enumerate(requests):
                await anyio.sleep(max(0.0, start + n / rate - time.perf_counter()))
                group.start_soon(send, event_id, request)
            with anyio.move_on_after(10):
                while len(arrived) < total:  # noqa: ASYNC110 - the subscriber fills it
                    await anyio.sleep(0.05)
            group.cancel_scope.cancel()
        await pool.close()
    delays = sorted((arrived[k] - sent[k]) * 1000 for k in sent if k in arrived)
    stored = sorted((acked[k] - sent[k]) * 1000 for k in acked)
    return {
        "events": len(sent),
        "delivered": len(delays),
        "202_p50_ms": statistics.median(stored),
        "202_p99_ms": stored[int(len(stored) * 0.99) - 1],
        "p50_ms": statistics.median(delays),
        "p99_ms": delays[int(len(delays) * 0.99) - 1],
        "max_ms": delays[-1],
    }


async def webhook_throughput(kind: str, count: int) -> float:
    """`pasarela serve` in its own process, 16 senders on keep-alive connections, pre-signed."""
    directory = Path(tempfile.mkdtemp())
    if kind == "postgresql":
        await reset_postgres()
    async with separate_gateway(write(directory, config_text(state_for(kind, directory)))) as (client, _):
        pool = RawPool(str(client.base_url), 16)
        await pool.open()
        queue = []
        for n in range(count):
            body = orjson.dumps(customer_updated("12345", "EU", event_id=f"t{n}"))
            headers = standard_signed(body, f"t{n}") | {"Connection": "keep-alive"}
            queue.append(RawPool.encode("POST", "/v1/events/crm", f"{pool.host}:{pool.port}", headers, body))
        accepted = 0
        statuses: list[int] = []

        async def sender() -> None:
            nonlocal accepted
            while queue:
                status = await pool.send(queue.pop())
                statuses.append(status)
                accepted += status == 202

        start = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(16):
                group.start_soon(sender)
        elapsed = time.perf_counter() - start
        await pool.close()
        assert accepted == count, f"{accepted} of {count} stored: {sorted(set(statuses))}"
    return count / elapsed


RULES = """      events:
        - {type: transaction_booked, id: ref, subject: account, data: "{account: account, amount: amount}"}
"""


async def broker_throughput(kind: str, broker: str, count: int) -> float:
    directory = Path(tempfile.mkdtemp())
    if kind == "postgresql":
        await reset_postgres()
    tag = secrets.token_hex(3)
    bodies = [orjson.dumps({"ref": f"r{n}", "account": "ACC-1001", "amount": n}) for n in range(count)]
    cleanup = None
    if broker == "redis":
        from redis.asyncio import Redis

        client = Redis.from_url("redis://127.0.0.1:6379/9")
        pipe = client.pipeline()
        for body in bodies:
            pipe.xadd(f"bench-{tag}", {"data": body})
        await pipe.execute()
        source = (
            f"    bank:\n      redis: {{url: 'redis://127.0.0.1:6379/9', stream: bench-{tag}, batch: 500}}\n"
        )
        cleanup = client
    elif broker == "nats":
        import nats

        nc = await nats.connect("nats://127.0.0.1:4222")
        js = nc.jetstream()
        await js.add_stream(name=f"BENCH{tag}", subjects=[f"bench{tag}.>"])
        for body in bodies:
            await js.publish(f"bench{tag}.tx", body)
        source = f"    bank:\n      nats: {{stream: BENCH{tag}, subject: 'bench{tag}.>', durable: b{tag}, batch: 500}}\n"
    else:
        import aio_pika

        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        channel = await connection.channel()
        await channel.declare_queue(f"bench-{tag}", durable=True)
        for body in bodies:
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=f"bench-{tag}")
        source = f"    bank:\n      rabbitmq: {{url: 'amqp://guest:guest@127.0.0.1:5672/', queue: bench-{tag}, prefetch: 500}}\n"
    text = config_text(state_for(kind, directory), extra_sources=source + RULES)
    async with gateway(write(directory, text)) as (_, runtime):
        start = time.perf_counter()
        while await runtime.events.log.count() < count:  # noqa: ASYNC110 - the consumer fills the log
            await anyio.sleep(0.02)
        elapsed = time.perf_counter() - start
    if cleanup is not None:
        await cleanup.delete(f"bench-{tag}")
        await cleanup.aclose()
    return count / elapsed


CDC_RULES = """      events:
        - {type: transaction_booked, subject: after.account, data: "{account: after.account, amount: after.amount}"}
"""


async def cdc_throughput(kind: str, capture: str, count: int) -> float:
    """Change data capture: PostgreSQL logical decoding (rows inserted after the slot exists) or
    polling a SQLite table (rows there before the gateway starts), until all are stored."""
    directory = Path(tempfile.mkdtemp())
    if kind == "postgresql":
        await reset_postgres()
    tag = secrets.token_hex(3)
    if capture == "sql_polling":
        import sqlite3

        bank = directory / "bank.db"
        with sqlite3.connect(bank) as db:
            db.execute("CREATE TABLE tx (seq INTEGER PRIMARY KEY, account TEXT, amount REAL)")
            db.executemany(
                "INSERT INTO tx (account, amount) VALUES (?, ?)", [("ACC-1001", n) for n in range(count)]
            )
        source = f"    bank:\n      sql_polling: {{url: 'sqlite:///{bank}', table: tx, cursor_column: seq, poll_interval: 50ms, batch: 1000}}\n"
        text = config_text(state_for(kind, directory), extra_sources=source + CDC_RULES)
        async with gateway(write(directory, text)) as (_, runtime):
            start = time.perf_counter()
            while await runtime.events.log.count() < count:  # noqa: ASYNC110 - the poller fills the log
                await anyio.sleep(0.02)
            return count / (time.perf_counter() - start)
    import asyncpg

    table, slot = f"bench_tx_{tag}", f"bench_{tag}"
    db = await asyncpg.connect(PG)
    await db.execute(f"CREATE TABLE {table} (id serial primary key, account text, amount numeric(12,2))")
    source = (
        f"    bank:\n      postgres_cdc: {{url: '{PG}', slot: {slot}, publication: {slot}, tables: [{table}], "
        "poll_interval: 50ms, batch: 1000}\n"
    )
    text = config_text(state_for(kind, directory), extra_sources=source + CDC_RULES)
    try:
        async with gateway(write(directory, text)) as (_, runtime):
            await replication_slot_made(db, slot)
            start = time.perf_counter()
            for first in range(0, count, 500):  # transactions of 500 rows, as a busy ledger commits
                await db.execute(
                    f"INSERT INTO {table} (account, amount) SELECT 'ACC-1001', n FROM generate_series($1::int, $2::int) n",  # noqa: S608 - our own table
                    first,
                    min(first + 500, count) - 1,
                )
            while await runtime.events.log.count() < count:  # noqa: ASYNC110 - the slot reader fills the log
                await anyio.sleep(0.02)
            return count / (time.perf_counter() - start)
    finally:
        await drop_cdc_objects(db, slot, slot, table)
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--only", choices=["latency", "throughput"], default=None)
    parser.add_argument(
        "--inline", action="store_true", help="latency: the gateway in this process (default: pasarela serve)"
    )
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}")
    if args.only != "throughput":
        print("latency", args.state, await latency(args.state, args.rate, args.seconds, not args.inline))
    if args.only == "latency":
        return
    print("webhook events/s", round(await webhook_throughput(args.state, args.count // 2)))
    for broker in ("redis", "nats", "rabbitmq"):
        print(f"{broker} events/s", round(await broker_throughput(args.state, broker, args.count)))
    for capture in ("postgres_cdc", "sql_polling"):
        print(f"{capture} events/s", round(await cdc_throughput(args.state, capture, args.count)))
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    anyio.run(main)
