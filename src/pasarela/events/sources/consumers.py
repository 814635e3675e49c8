"""Consumers of broker and change-data-capture sources: one task each, restarted with a back-off
when its connection fails. A message is acknowledged (or a position confirmed) only after the
events made from it are stored; a message no rule can map is logged, counted and acknowledged
(retrying it would never succeed and would hold up the rest)."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio
import orjson
import structlog

from pasarela.config.events import EventSourceSettings
from pasarela.errors import EventRefused
from pasarela.events.envelope import read_json
from pasarela.events.model import NewEvent
from pasarela.events.service import Events

log = structlog.get_logger("pasarela.events")

# (decoded message, the transport's id for it) → stored; returns when the batch is durable.
Ingest = Callable[[Sequence[tuple[Any, str | None]]], Awaitable[None]]
MODULES = {
    "nats": "pasarela.events.sources.nats",
    "rabbitmq": "pasarela.events.sources.rabbitmq",
    "redis": "pasarela.events.sources.redis_streams",
    "postgres_cdc": "pasarela.events.sources.postgres_cdc",
    "sql_polling": "pasarela.events.sources.sql_polling",
}
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


class Consume(Protocol):
    async def __call__(
        self, name: str, settings: EventSourceSettings, ingest: Ingest, events: Events
    ) -> None: ...


def ingester(name: str, events: Callable[[], Events]) -> Ingest:
    async def ingest(messages: Sequence[tuple[Any, str | None]]) -> None:
        current = events()
        mapped: list[NewEvent] = []
        for message, message_id in messages:
            try:
                mapped.append(
                    current.map(
                        name, decoded(message, bool(current.mappers[name].rules)), message_id=message_id
                    )
                )
            except EventRefused as exc:
                log.warning(
                    "event_refused", source=name, message_id=message_id, reason=exc.detail, **exc.extra
                )
        if mapped:
            await current.store(mapped)

    return ingest


def decoded(message: Any, has_rules: bool) -> Any:
    """A broker message's body as JSON (a CloudEvent in any of its JSON forms when the source has
    no rules); EventRefused when it is not."""
    if not isinstance(message, bytes | str):
        return message
    if not has_rules:
        return read_json(message)
    try:
        return orjson.loads(message)
    except orjson.JSONDecodeError as exc:
        raise EventRefused(f"the message is not valid JSON: {exc}") from None


def body_id(source: str, body: bytes) -> str:
    """An id for a message its producer gave none: its content (the same bytes are one event)."""
    return f"sha256:{hashlib.sha256(body).hexdigest()[:40]}"


async def run_consumers(events: Callable[[], Events]) -> None:
    sources = events().settings.sources
    async with anyio.create_task_group() as group:
        for name, source in sources.items():
            if source.kind in MODULES:
                group.start_soon(_supervise, name, source, events)


async def _supervise(name: str, source: EventSourceSettings, events: Callable[[], Events]) -> None:
    consume: Consume = importlib.import_module(MODULES[source.kind]).consume
    failures = 0
    while True:
        try:
            log.info("event_source_started", source=name, kind=source.kind)
            await consume(name, source, ingester(name, events), events())
            failures = 0
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:  # noqa: BLE001 - any client failure: connect again after a back-off
            wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
            failures += 1
            log.warning(
                "event_source_failed",
                source=name,
                kind=source.kind,
                error=f"{type(exc).__name__}: {exc}"[:300],
                retry_in=wait,
            )
            await anyio.sleep(wait)
