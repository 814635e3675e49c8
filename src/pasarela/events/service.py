"""`Events`: what the doors and the sources call — ingest a message, read as a subscriber — built
per configuration over one `EventCore` (the log and this process's tail), which a reload keeps."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from pasarela.caching.results import ResultCache
from pasarela.config.events import EventsSettings
from pasarela.config.traffic import CacheSettings
from pasarela.contracts.registry import SchemaRegistry
from pasarela.errors import EventRefused, EventSourceNotFound
from pasarela.events.access import EventAccess
from pasarela.events.appender import GroupAppender
from pasarela.events.delivery import Reader
from pasarela.events.envelope import is_cloudevent, read_http
from pasarela.events.freshness import Freshness, compile_invalidations
from pasarela.events.log import EventLog, Positions
from pasarela.events.mapping import Mapper
from pasarela.events.model import Appended, Event, NewEvent
from pasarela.events.sources.webhook import WebhookVerifier
from pasarela.events.tail import EventTail
from pasarela.policy import CedarAuthorizer
from pasarela.protection import MaskingRule
from pasarela.state import StateStore
from pasarela.telemetry import GatewayMetrics


class EventCore:
    """One per state store in a process: the log, the positions, the tail following the log."""

    def __init__(self, state: StateStore, poll_interval: float) -> None:
        self.state = state
        self.log = EventLog(state)
        self.positions = Positions(state)
        self.appender = GroupAppender(self.log)  # webhooks: one by one in, committed together
        self.tail = EventTail(self.log, poll_interval, [self._on_events])
        self.freshness: Freshness | None = None  # the current configuration's (a reload replaces it)

    async def _on_events(self, events: Sequence[Event]) -> None:
        if self.freshness is not None:
            await self.freshness(events)


class Events:
    def __init__(
        self,
        settings: EventsSettings,
        core: EventCore,
        registry: SchemaRegistry,
        authorizer: CedarAuthorizer,
        cache: ResultCache,
        cache_settings: Mapping[str, CacheSettings],
        metrics: GatewayMetrics | None,
    ) -> None:
        self.settings = settings
        self.core = core
        self.metrics = metrics
        self.mappers = {
            name: Mapper(name, source.events, registry, settings.max_data_bytes)
            for name, source in settings.sources.items()
        }
        self.verifiers = {
            name: WebhookVerifier(name, source.webhook)
            for name, source in settings.sources.items()
            if source.webhook is not None
        }
        masking = {
            name: MaskingRule.build(t.redact.fields, t.redact.paths, t.redact.keep_last)
            for name, t in settings.types.items()
            if t.redact is not None and (t.redact.fields or t.redact.paths)
        }
        self.access = EventAccess(authorizer, masking)
        self.reader = Reader(core.tail, self.access, metrics, settings.retention)
        self.freshness = Freshness(compile_invalidations(cache_settings), cache, metrics)

    def activate(self) -> None:
        """This configuration's freshness rules now apply to what the tail sees."""
        self.core.freshness = self.freshness

    @property
    def log(self) -> EventLog:
        return self.core.log

    def map(
        self, source: str, message: Any, *, message_id: str | None = None, received: float | None = None
    ) -> NewEvent:
        mapper = self.mappers.get(source)
        if mapper is None:
            raise EventSourceNotFound(f"no event source named {source!r}")
        try:
            return mapper.map(message, message_id=message_id, received=received)
        except EventRefused:
            self._count(source, "refused")
            raise

    async def store(self, new: Sequence[NewEvent]) -> list[Appended]:
        """Append to the log (each (source, id) once) and wake this process's readers."""
        appended = await self.core.log.append(new)
        self.core.tail.offer([a.event for a in appended if a.event is not None])
        for event, result in zip(new, appended, strict=True):
            self._count(event.source, "duplicate" if result.duplicate else "stored")
        return appended

    async def receive_webhook(self, source: str, headers: Mapping[str, str], body: bytes) -> Appended:
        """`POST /v1/events/{source}`: authenticate, decode, map, store — or refuse, storing nothing."""
        verifier = self.verifiers.get(source)
        if verifier is None:
            raise EventSourceNotFound(f"no webhook event source named {source!r}")
        received = time.time()
        message_id = verifier.verify(headers, body, received)
        if is_cloudevent(headers):
            message: Any = read_http(headers, body)
            message_id = message_id or message.get("id")
        else:
            try:
                message = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                self._count(source, "refused")
                raise EventRefused(f"the body is not valid JSON: {exc}") from None
        event = self.map(source, message, message_id=message_id, received=received)
        appended = await self.core.appender.append(event)  # returns once committed: 2xx means stored
        self.core.tail.offer([appended.event] if appended.event is not None else [])
        self._count(source, "duplicate" if appended.duplicate else "stored")
        return appended

    def _count(self, source: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.events_ingested.labels(source, outcome).inc()
