"""An endpoint's state in the store: disabled after `410 Gone` (the receiver said it is gone for
good), with when and why, until an operator runs `pasarela webhooks enable NAME`.

While an endpoint is disabled its deliveries wait with status `disabled` (nothing is lost);
enabling it makes them pending again, due at once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from pasarela.state import StateStore
from pasarela.state.tables import webhook_deliveries, webhook_endpoints
from pasarela.webhooks.wakeup import wake_listeners

_d = webhook_deliveries.c
_e = webhook_endpoints.c


@dataclass(frozen=True, slots=True)
class Disabled:
    at: float
    reason: str


async def disabled_endpoints(db: AsyncConnection) -> dict[str, Disabled]:
    rows = await db.execute(
        select(_e.name, _e.disabled_at, _e.disabled_reason).where(_e.disabled_at.is_not(None))
    )
    return {row.name: Disabled(row.disabled_at, row.disabled_reason or "") for row in rows}


async def disable_endpoint(db: AsyncConnection, name: str, reason: str, now: float) -> None:
    """Within the caller's transaction: mark `name` disabled and park its pending deliveries."""
    found = await db.execute(select(_e.name).where(_e.name == name).with_for_update())
    if found.first() is None:
        await db.execute(
            webhook_endpoints.insert().values(name=name, disabled_at=now, disabled_reason=reason)
        )
    else:
        await db.execute(
            update(webhook_endpoints).where(_e.name == name).values(disabled_at=now, disabled_reason=reason)
        )
    await db.execute(
        update(webhook_deliveries)
        .where(_d.endpoint == name, _d.status == "pending")
        .values(status="disabled", claimed_by=None)
    )


async def enable_endpoint(store: StateStore, name: str, now: float) -> tuple[bool, int]:
    """Enable `name` again: whether it was disabled, and how many deliveries are pending again."""
    async with store.engine.begin() as db:
        removed = await db.execute(delete(webhook_endpoints).where(_e.name == name))
        requeued = await db.execute(
            update(webhook_deliveries)
            .where(_d.endpoint == name, _d.status == "disabled")
            .values(status="pending", next_attempt_at=now, claimed_by=None)
        )
        await wake_listeners(db)
    return bool(removed.rowcount), int(requeued.rowcount)
