"""Redis Streams: a consumer group (its position kept by Redis); entries are acknowledged (XACK)
only after they are stored. At start this consumer reads its own pending entries again, and it
claims entries another consumer left pending (a dead replica) after `CLAIM_IDLE`. An entry's id
is its stream id, the same on every read, so a re-read entry is stored once.

The message is the entry's `data` field (JSON), or, without one, the entry's fields as an object."""

from __future__ import annotations

import os
import socket
from typing import Any

import anyio

from pasarela.config.events import EventSourceSettings
from pasarela.events.service import Events
from pasarela.events.sources.consumers import Ingest

BLOCK_MS = 1000
CLAIM_IDLE_MS = 30_000


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _message(fields: dict[Any, Any]) -> Any:
    plain = {_text(k): v for k, v in fields.items()}
    if "data" in plain:
        return plain["data"]
    return {k: _text(v) for k, v in plain.items()}


async def consume(name: str, source: EventSourceSettings, ingest: Ingest, events: Events) -> None:
    from redis.asyncio import Redis
    from redis.exceptions import ResponseError

    settings = source.redis
    assert settings is not None
    client = Redis.from_url(settings.url.get_secret_value(), socket_connect_timeout=5)
    consumer = f"{socket.gethostname()[:40]}-{os.getpid()}"
    try:
        try:
            await client.xgroup_create(settings.stream, settings.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

        async def handle(entries: list[Any]) -> None:
            if entries:
                await ingest(
                    [
                        (_message(fields), f"{settings.stream}:{_text(entry_id)}")
                        for entry_id, fields in entries
                    ]
                )
                await client.xack(settings.stream, settings.group, *[entry_id for entry_id, _ in entries])

        start = "0"  # this consumer's own pending entries first (read before a crash, never acked)
        while True:
            found: Any = await client.xreadgroup(
                settings.group,
                consumer,
                {settings.stream: start},
                count=settings.batch,
                block=None if start == "0" else BLOCK_MS,
            )
            entries = found[0][1] if found else []
            if start == "0" and not entries:
                start = ">"
                claimed: Any = await client.xautoclaim(
                    settings.stream, settings.group, consumer, CLAIM_IDLE_MS, "0-0", count=settings.batch
                )
                await handle(claimed[1])
                continue
            await handle(entries)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):  # cancelled mid-read: close anyway
            await client.aclose()
