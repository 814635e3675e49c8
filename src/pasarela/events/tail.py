"""Each process follows the log: woken at once by its own appends, by PostgreSQL NOTIFY from any
replica, or by polling (SQLite shared between processes). Waiting readers (long polls, SSE
streams) are woken when the log grows past their cursor, and read recent events from memory;
hooks (cache invalidation, delivery lag) see every event once per process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import anyio
import structlog
from sqlalchemy.exc import SQLAlchemyError

from pasarela.events.log import CHANNEL, EventLog
from pasarela.events.model import Event

log = structlog.get_logger("pasarela.events")

Hook = Callable[[Sequence[Event]], Awaitable[None]]
RECENT = 4096  # events kept in memory for readers close behind
BATCH = 500


class EventTail:
    def __init__(self, events: EventLog, poll_interval: float, hooks: Sequence[Hook] = ()) -> None:
        self.log = events
        self.poll_interval = poll_interval
        self.hooks = list(hooks)
        self.high = 0  # the last position this process has seen
        self.origin = 0  # the last position when this process started: what came before is history
        self.recent: deque[Event] = deque(maxlen=RECENT)
        self._woken = asyncio.Event()
        self._grown = asyncio.Condition()
        self.started = asyncio.Event()
        self.running = False  # `run` follows the log (else `high` is only where `ready` found it)
        self._offered: list[Event] = []  # committed by this process, not read back yet

    def wake(self) -> None:
        self._woken.set()

    def offer(self, committed: Sequence[Event]) -> None:
        """Events this process has just committed: taken as they are, without reading them back,
        when they follow what the tail has seen (else the log is read as usual)."""
        if self.running and committed:
            self._offered.extend(committed)
            if len(self._offered) > RECENT:  # not taken (another writer's events in between): let go
                del self._offered[: len(self._offered) - RECENT]
        self.wake()

    def _take_offered(self) -> list[Event]:
        """The offered events that continue the log from `high` without a gap."""
        if not self._offered:
            return []
        pending = sorted((e for e in self._offered if e.seq > self.high), key=lambda e: e.seq)
        taken: list[Event] = []
        for event in pending:
            if event.seq != self.high + len(taken) + 1:
                break  # a position this process did not write: the log says what it holds
            taken.append(event)
        self._offered = pending[len(taken) :]
        return taken

    async def run(self) -> None:
        """Follow the log until cancelled (events before the start are history, not news)."""
        with anyio.CancelScope(shield=True):  # never cut a query halfway (aiosqlite hangs at close)
            self.high = self.origin = await self.log.head()
        self.started.set()
        self.running = True
        try:
            async with anyio.create_task_group() as group:
                if self.log.store.dialect == "postgresql":
                    from pasarela.jobs.listen import listen

                    group.start_soon(listen, self.log.store, self.wake, CHANNEL)
                while True:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._woken.wait(), self.poll_interval)
                    self._woken.clear()
                    try:
                        await self.catch_up()
                    except (SQLAlchemyError, OSError) as exc:
                        log.warning("events_log_unreachable", error=type(exc).__name__)
        finally:
            self.running = False

    async def ready(self) -> None:
        """Started: by `run`, or here when nothing runs it (a gateway with no event source, whose
        log only holds what earlier configurations stored)."""
        if not self.started.is_set():
            with anyio.CancelScope(shield=True):
                self.high = self.origin = await self.log.head()
            self.started.set()

    async def catch_up(self) -> None:
        while True:
            found = self._take_offered()
            if not found:
                with anyio.CancelScope(shield=True):  # never cut a query halfway (aiosqlite hangs at close)
                    found = await self.log.read(self.high, BATCH)
            if not found:
                return
            self.recent.extend(found)
            self.high = found[-1].seq
            for hook in self.hooks:
                try:
                    await hook(found)
                except Exception:  # a hook's failure must not stop delivery
                    log.exception("events_hook_failed", hook=getattr(hook, "__qualname__", repr(hook)))
            async with self._grown:
                self._grown.notify_all()
            if len(found) < BATCH and not self._offered:
                return

    async def wait_past(self, position: int, timeout: float) -> bool:
        """Until the log has grown past `position` (True) or `timeout` ends (False)."""
        if self.high > position:
            return True
        deadline = time.monotonic() + timeout
        async with self._grown:
            while self.high <= position:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._grown.wait(), left)
        return True

    async def after(self, position: int, limit: int, *, following: bool = False) -> list[Event]:
        """Up to `limit` events after `position`: from memory when it holds them all, else the log.

        `following`: the reader has caught up with this tail before and waits on it, so nothing
        past what the tail has seen is asked of the log (it would only find what the tail is about
        to bring). A first read asks the log: what a 202 acknowledged is there at once."""
        if following and self.running and position >= self.high:
            return []
        if self.recent and self.recent[0].seq <= position + 1 and position < self.high:
            found = []
            for event in self.recent:
                if event.seq > position:
                    found.append(event)
                    if len(found) >= limit:
                        break
            return found
        return await self.log.read(position, limit)
