"""Reading the log as one subscriber: from a cursor, only the types asked for and only what
policy lets it receive, waiting (long poll, SSE) until something it may see arrives.

Cursors are positions in the log (`sequence` of each event). `after=0` reads from the oldest
event kept; a cursor older than what retention kept is refused (410), not silently skipped."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pasarela.errors import CursorExpired, InvalidRequest
from pasarela.events.access import EventAccess, TypeFilter
from pasarela.events.tail import EventTail
from pasarela.identity.principal import Principal
from pasarela.telemetry import GatewayMetrics

BATCH = 200
SCAN = 5000  # events looked at per answer at most, those withheld included
MAX_CURSOR_DIGITS = 18


@dataclass(frozen=True, slots=True)
class Page:
    events: list[dict[str, Any]]
    cursor: int  # where the next read starts (past withheld events too)


def parse_cursor(value: str, where: str = "after") -> int:
    if not value.isdigit() or len(value) > MAX_CURSOR_DIGITS:
        raise InvalidRequest(
            f"{where}: expected a cursor (the `sequence` of an event, or 0), got {value!r:.40}"
        )
    return int(value)


class Reader:
    def __init__(
        self, tail: EventTail, access: EventAccess, metrics: GatewayMetrics | None, retention: float
    ) -> None:
        self.tail = tail
        self.access = access
        self.metrics = metrics
        self.retention = retention

    async def start(self, after: int | None) -> int:
        """The position to read after: None is now (only new events), 0 the oldest kept."""
        await self.tail.ready()
        if after is None:
            return self.tail.high
        oldest, last = await self.tail.log.bounds()
        if after == 0:
            return oldest - 1
        if after > max(last, self.tail.high):
            raise InvalidRequest(
                f"cursor {after} is past the end of the log ({last}): it is not from this log"
            )
        if after < oldest - 1:
            raise CursorExpired(
                f"events after cursor {after} are no longer kept (events.retention: {self.retention:g}s); "
                "read again from after=0 (the oldest kept) or without a cursor (new events only)",
                oldest=str(oldest),
            )
        return after

    async def page(
        self, principal: Principal, types: TypeFilter, after: int, limit: int, wait: float, door: str
    ) -> Page:
        deadline = time.monotonic() + wait
        following = False
        while True:
            page = await self._scan(principal, types, after, limit, door, following)
            left = deadline - time.monotonic()
            if page.events or left <= 0:
                return page
            after = page.cursor
            await self.tail.wait_past(after, left)
            following = True

    async def stream(
        self, principal: Principal, types: TypeFilter, after: int, door: str, heartbeat: float
    ) -> AsyncIterator[dict[str, Any] | None]:
        """Events as they come, forever; None every `heartbeat` seconds of silence."""
        following = False
        while True:
            page = await self._scan(principal, types, after, BATCH, door, following)
            after = page.cursor
            for event in page.events:
                yield event
            if not page.events and not await self.tail.wait_past(after, heartbeat):
                yield None
            following = True

    async def _scan(
        self, principal: Principal, types: TypeFilter, after: int, limit: int, door: str, following: bool
    ) -> Page:
        visible: list[dict[str, Any]] = []
        scanned = 0
        while scanned < SCAN:
            batch = await self.tail.after(after, BATCH, following=following)
            if not batch:
                break
            for event in batch:
                after = event.seq
                scanned += 1
                if not types.wants(event.type):
                    continue
                shown = self.access.view(principal, event, door)
                if shown is None:
                    continue
                visible.append(shown)
                if self.metrics is not None:
                    self.metrics.events_delivered.labels(door).inc()
                    self.metrics.event_delivery_lag.labels(door).observe(
                        max(0.0, time.time() - event.ingested_at)
                    )
                if len(visible) >= limit:
                    return Page(visible, after)
        return Page(visible, after)
