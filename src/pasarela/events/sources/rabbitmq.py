"""RabbitMQ (aio-pika): a durable queue, consumed with a prefetch window; messages are gathered
into batches, stored, then acknowledged. An unacknowledged message (the process died) is
redelivered by the broker; its `message_id` (or, without one, its content) stores it once."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import anyio

from pasarela.config.events import EventSourceSettings
from pasarela.events.service import Events
from pasarela.events.sources.consumers import Ingest, body_id

GATHER = 0.005  # seconds a batch waits for more messages once one arrived


async def consume(name: str, source: EventSourceSettings, ingest: Ingest, events: Events) -> None:
    import aio_pika
    from aio_pika.abc import AbstractIncomingMessage

    settings = source.rabbitmq
    assert settings is not None
    connection = await aio_pika.connect_robust(settings.url.get_secret_value(), timeout=10)
    arrived: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=settings.prefetch)
        queue = await channel.declare_queue(settings.queue, durable=True)
        await queue.consume(arrived.put, no_ack=False)
        while True:
            messages = [await arrived.get()]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(GATHER):
                    while len(messages) < settings.prefetch:
                        messages.append(await arrived.get())
            batch: list[tuple[Any, str | None]] = [
                (m.body, m.message_id or body_id(name, m.body)) for m in messages
            ]
            await ingest(batch)
            await messages[-1].ack(multiple=True)  # every message of the batch, in one frame
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):  # cancelled mid-read: close anyway
            await connection.close()
