"""Reading the outbox (for `pasarela webhooks …` and the gauges) and sending a delivery again."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from pasarela.state import StateStore
from pasarela.state.tables import webhook_attempts, webhook_deliveries
from pasarela.webhooks.outbox import DISABLED, PENDING
from pasarela.webhooks.wakeup import wake_listeners

_d = webhook_deliveries.c
_a = webhook_attempts.c
SUMMARY = (
    _d.id,
    _d.message_id,
    _d.endpoint,
    _d.principal,
    _d.event_type,
    _d.status,
    _d.attempts,
    _d.next_attempt_at,
    _d.last_status,
    _d.last_error,
    _d.created_at,
    _d.delivered_at,
)


@dataclass(frozen=True, slots=True)
class Backlog:
    waiting: int  # pending, or held by a disabled endpoint
    oldest_at: float | None


async def has_outbox(db: AsyncConnection) -> bool:
    """Whether the store has the outbox yet (a store opened only to look may predate it)."""
    return await db.run_sync(lambda c: inspect(c).has_table(webhook_deliveries.name))


async def deliveries(
    store: StateStore, *, endpoint: str | None = None, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The most recent deliveries first."""
    query = select(*SUMMARY).order_by(_d.created_at.desc(), _d.id.desc()).limit(limit)
    if endpoint is not None:
        query = query.where(_d.endpoint == endpoint)
    if status is not None:
        query = query.where(_d.status == status)
    async with store.engine.connect() as db:
        if not await has_outbox(db):
            return []
        return [dict(row._mapping) for row in await db.execute(query)]


async def delivery(store: StateStore, delivery_id: str) -> dict[str, Any] | None:
    """One delivery with its body and every attempt, oldest first."""
    async with store.engine.connect() as db:
        if not await has_outbox(db):
            return None
        row = (await db.execute(select(*SUMMARY, _d.body).where(_d.id == delivery_id))).first()
        if row is None:
            return None
        attempts = await db.execute(
            select(_a.at, _a.status_code, _a.error, _a.duration_ms)
            .where(_a.delivery_id == delivery_id)
            .order_by(_a.id)
        )
        return {**row._mapping, "attempt_log": [dict(a._mapping) for a in attempts]}


async def backlog(store: StateStore, endpoints: Collection[str]) -> dict[str, Backlog]:
    """Per endpoint: deliveries waiting and when the oldest was queued."""
    found = {name: Backlog(0, None) for name in endpoints}
    async with store.engine.connect() as db:
        rows = await db.execute(
            select(_d.endpoint, func.count(), func.min(_d.created_at))
            .where(_d.status.in_((PENDING, DISABLED)))
            .group_by(_d.endpoint)
        )
        for name, count, oldest in rows:
            if name in found:
                found[name] = Backlog(int(count), None if oldest is None else float(oldest))
    return found


async def redeliver(store: StateStore, delivery_id: str, now: float) -> bool:
    """Due again at once, with a fresh round of the retry schedule and the same webhook-id;
    False if there is no such delivery."""
    async with store.engine.begin() as db:
        done = await db.execute(
            update(webhook_deliveries)
            .where(_d.id == delivery_id)
            .values(status=PENDING, next_attempt_at=now, round_attempts=0, claimed_by=None)
        )
        await wake_listeners(db)
    return bool(done.rowcount)
