"""Broker sources end to end with the real servers (NATS JetStream, RabbitMQ, Redis Streams):
mapped, stored once (a redelivered or repeated message too), malformed messages skipped and
acknowledged, and the broker's position moved only past what was stored."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from pasarela.assembly import Runtime
from tests.conftest import REDIS_URL, need_service
from tests.events.support import config_text, gateway, write

pytestmark = pytest.mark.anyio

NATS_URL = os.environ.get("PASARELA_TEST_NATS", "nats://127.0.0.1:4222")
AMQP_URL = os.environ.get("PASARELA_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")
RULES = """      events:
        - {type: transaction_booked, when: "kind == 'booked'", id: ref, subject: account, data: "{account: account, amount: amount}"}
"""
MESSAGES = [
    {"kind": "booked", "ref": "t-1", "account": "ACC-1001", "amount": 12.5},
    {"kind": "booked", "ref": "t-2", "account": "ACC-1002", "amount": 99},
    {"kind": "booked", "ref": "t-1", "account": "ACC-1001", "amount": 12.5},  # sent twice: stored once
    {"kind": "unknown"},  # no rule applies: skipped, acknowledged
]


async def stored(runtime: Runtime, count: int) -> list[tuple[str, str, object]]:
    with anyio.fail_after(30):
        while await runtime.events.log.count() < count:  # noqa: ASYNC110 - consumers write to the store
            await anyio.sleep(0.05)
    await anyio.sleep(0.3)  # anything else that would (wrongly) arrive
    return [(e.type, e.id, e.data) for e in await runtime.events.log.read(0, 100)]


async def run_source(
    tmp_path: Path, source: str, publish: Callable[[list[bytes]], Awaitable[None]]
) -> Runtime:
    text = config_text(f"sqlite:///{tmp_path / 's.db'}", extra_sources=source + RULES)
    bodies = [json.dumps(m).encode() for m in MESSAGES] + [b"not json"]
    await publish(bodies)
    async with gateway(write(tmp_path, text)) as (_, runtime):
        found = await stored(runtime, 2)
        assert [(t, i) for t, i, _ in found] == [("transaction_booked", "t-1"), ("transaction_booked", "t-2")]
        assert found[0][2] == {"account": "ACC-1001", "amount": 12.5}
        return runtime


async def test_nats_jetstream(tmp_path: Path) -> None:
    import nats
    from nats.errors import Error as NatsError

    tag = secrets.token_hex(4)
    try:
        client = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
    except (NatsError, OSError) as exc:
        need_service(f"NATS at {NATS_URL} is not reachable ({type(exc).__name__})")
        return
    stream = client.jetstream()
    await stream.add_stream(name=f"BANK{tag}", subjects=[f"bank{tag}.>"])

    async def publish(bodies: list[bytes]) -> None:
        for n, body in enumerate(bodies):
            headers = {"Nats-Msg-Id": f"x{n}"} if n == 1 else None
            await stream.publish(f"bank{tag}.tx", body, headers=headers)

    source = f"    bank:\n      nats: {{url: '{NATS_URL}', stream: BANK{tag}, subject: 'bank{tag}.>', durable: pasarela{tag}}}\n"
    try:
        await run_source(tmp_path, source, publish)
        info = await stream.consumer_info(f"BANK{tag}", f"pasarela{tag}")
        assert info.num_ack_pending == 0 and info.num_pending == 0, "every message acknowledged"
    finally:
        await stream.delete_stream(f"BANK{tag}")
        await client.close()


async def test_rabbitmq(tmp_path: Path) -> None:
    import aio_pika

    queue_name = f"bank-{secrets.token_hex(4)}"
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=3)
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        need_service(f"RabbitMQ at {AMQP_URL} is not reachable ({type(exc).__name__})")
        return
    channel = await connection.channel()
    queue = await channel.declare_queue(queue_name, durable=True)

    async def publish(bodies: list[bytes]) -> None:
        for body in bodies:
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue_name)

    source = f"    bank:\n      rabbitmq: {{url: '{AMQP_URL}', queue: {queue_name}}}\n"
    try:
        await run_source(tmp_path, source, publish)
        declared = await channel.declare_queue(queue_name, durable=True, passive=True)
        assert declared.declaration_result.message_count == 0, "every message acknowledged"
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()


async def test_redis_streams(redis_url: str, tmp_path: Path) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    name = f"bank-{secrets.token_hex(4)}"

    async def publish(bodies: list[bytes]) -> None:
        for body in bodies:
            await client.xadd(name, {"data": body})

    source = f"    bank:\n      redis: {{url: '{REDIS_URL}', stream: {name}}}\n"
    try:
        await run_source(tmp_path, source, publish)
        pending = await client.xpending(name, "pasarela")
        assert pending["pending"] == 0, "every entry acknowledged"
    finally:
        await client.delete(name)
        await client.aclose()
