"""NATS JetStream: a durable pull consumer (its position kept by the server), acknowledged only
after the batch is stored. A message's id is its `Nats-Msg-Id` header, else its stream sequence
(the same on every redelivery), so a redelivered message is stored once."""

from __future__ import annotations

from typing import Any

import anyio

from pasarela.config.events import EventSourceSettings
from pasarela.events.service import Events
from pasarela.events.sources.consumers import Ingest


async def consume(name: str, source: EventSourceSettings, ingest: Ingest, events: Events) -> None:
    import nats
    from nats.errors import TimeoutError as FetchTimeout

    settings = source.nats
    assert settings is not None
    client = await nats.connect(
        settings.url, allow_reconnect=True, max_reconnect_attempts=-1, connect_timeout=5
    )
    try:
        stream = client.jetstream()
        subscription = await stream.pull_subscribe(
            settings.subject, durable=settings.durable, stream=settings.stream
        )
        while True:
            try:
                messages = await subscription.fetch(settings.batch, timeout=1.0)
            except FetchTimeout:
                continue
            batch: list[tuple[Any, str | None]] = []
            for message in messages:
                given = (message.headers or {}).get("Nats-Msg-Id")
                position = message.metadata.sequence.stream
                batch.append((message.data, given or f"{message.metadata.stream}:{position}"))
            await ingest(batch)
            for message in messages:
                await message.ack()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):  # cancelled mid-read: close anyway
            await client.close()
