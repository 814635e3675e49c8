"""Events to webhooks: one process at a time (a lease on the `cursor:webhooks` position) reads the
log from its durable cursor and, for each event, queues a signed delivery to every endpoint whose
principal subscribes to the type (`webhooks.endpoints.<name>.events`) and may receive it.

At least once: the cursor moves only after the batch is queued; a batch queued again after a
crash reuses the same webhook-id (`evt.<sequence>`), which the outbox stores once per endpoint."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable

import anyio
import structlog
from sqlalchemy.exc import SQLAlchemyError

from pasarela.events.access import EventAccess
from pasarela.events.log import EventLog, Positions
from pasarela.events.model import Event
from pasarela.events.tail import EventTail
from pasarela.identity.principal import Principal
from pasarela.telemetry import GatewayMetrics
from pasarela.webhooks import Webhooks

log = structlog.get_logger("pasarela.events")

POSITION = "cursor:webhooks"
LEASE = 15.0
BATCH = 200
DOOR = "webhook"


class WebhookFanout:
    def __init__(
        self,
        events: EventLog,
        tail: EventTail,
        access: Callable[[], EventAccess],
        webhooks: Callable[[], Webhooks],
        principals: Callable[[], dict[str, Principal]],
        metrics: GatewayMetrics | None,
        poll_interval: float,
    ) -> None:
        self.log = events
        self.positions = Positions(events.store)
        self.tail = tail
        self.access = access
        self.webhooks = webhooks
        self.principals = principals  # the configured principals (identity.api_keys), by id
        self.metrics = metrics
        self.poll_interval = poll_interval
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"

    async def run(self) -> None:
        """Until cancelled: hold the lease, deliver what follows the cursor, wait for more."""
        try:
            while True:
                try:
                    moved = await self.step()
                except (SQLAlchemyError, OSError) as exc:
                    log.warning("events_webhooks_unreachable", error=type(exc).__name__)
                    moved = False
                if not moved:
                    await anyio.sleep(self.poll_interval) if not self._wants_any() else await self._idle()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                await self.positions.release(POSITION, self.owner)

    def _wants_any(self) -> bool:
        return bool(self.webhooks().endpoints)

    async def _idle(self) -> None:
        await self.tail.started.wait()
        position = await self.positions.get(POSITION)
        await self.tail.wait_past(int(position or 0), self.poll_interval)

    async def step(self) -> bool:
        """One batch, if this process holds the lease; whether the cursor moved."""
        if not self._wants_any() or not await self.positions.hold(POSITION, self.owner, LEASE):
            return False
        stored = await self.positions.get(POSITION)
        if stored is None:  # the first start: what came before this process started is history
            await self.tail.started.wait()  # (not what came before this step: that is news already)
            await self.positions.set(POSITION, str(self.tail.origin))
            return True
        batch = await self.log.read(int(stored), BATCH)
        if not batch:
            return False
        for event in batch:
            await self._notify(event)
        await self.positions.set(POSITION, str(batch[-1].seq))
        return True

    async def _notify(self, event: Event) -> None:
        webhooks = self.webhooks()
        access = self.access()
        known = self.principals()
        owners = sorted({e.principal for e in webhooks.endpoints.values() if e.wants(event.type)})
        for owner in owners:
            principal = known.get(owner)
            if principal is None:
                continue  # principals from tokens have no roles to decide with until they call
            shown = access.view(principal, event, DOOR)
            if shown is None:
                continue
            await webhooks.notify(owner, event.type, shown, message_id=f"evt.{event.seq}")
            if self.metrics is not None:
                self.metrics.events_delivered.labels(DOOR).inc()
                self.metrics.event_delivery_lag.labels(DOOR).observe(
                    max(0.0, time.time() - event.ingested_at)
                )
