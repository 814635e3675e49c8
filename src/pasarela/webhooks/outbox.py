"""The outbox in the state store: deliveries are queued, claimed with a lease, and their attempts
recorded, each step one transaction.

Claims take due rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL (replicas and workers share the
outbox without waiting on each other); on SQLite the transaction itself holds the write lock. A
claim moves `next_attempt_at` to the end of its lease: a worker that dies holding a delivery
leaves it due again when the lease ends, and it is sent again with the same webhook-id (at
least once)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from pasarela.state import StateStore
from pasarela.state.tables import webhook_attempts, webhook_deliveries
from pasarela.webhooks.endpoint_state import disable_endpoint, disabled_endpoints
from pasarela.webhooks.wakeup import wake_listeners

PENDING, DELIVERED, FAILED, DISABLED = "pending", "delivered", "failed", "disabled"
STATUSES = (PENDING, DELIVERED, FAILED, DISABLED)

_d = webhook_deliveries.c


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    message_id: str
    endpoint: str
    principal: str
    event_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST came to."""

    at: float
    duration_ms: float
    status_code: int | None = None  # None: no answer
    error: str | None = None  # why it failed, with a short redacted excerpt of any answer
    retry_after: float | None = None  # seconds the receiver asked us to wait


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    next_attempt_at: float
    reason: str | None = None  # why the endpoint is disabled, when it is


class Outbox:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        # SQLite has one writer at a time, and a writer kept waiting retries on a growing backoff:
        # under a burst of notifies the loop's claims kept losing. Taking turns here is fair.
        self._turns = asyncio.Lock() if store.dialect == "sqlite" else contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._turns, self.store.engine.begin() as db:
            yield db

    async def enqueue(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Queue `rows` (webhook_deliveries columns); a message already queued for an endpoint
        (same message_id) is not queued twice, and one for a disabled endpoint waits with it.
        The ids of the deliveries, in the order given."""
        if not rows:
            return []
        keys = [(row["endpoint"], row["message_id"]) for row in rows]
        async with self._write() as db:
            disabled = await disabled_endpoints(db)
            await db.execute(
                self.store.insert(webhook_deliveries).on_conflict_do_nothing(
                    index_elements=["endpoint", "message_id"]
                ),
                [{**row, "status": DISABLED} if row["endpoint"] in disabled else row for row in rows],
            )
            found = await db.execute(
                select(_d.endpoint, _d.message_id, _d.id).where(tuple_(_d.endpoint, _d.message_id).in_(keys))
            )
            ids = {(row.endpoint, row.message_id): row.id for row in found}
            await wake_listeners(db)
        return [ids[key] for key in keys]

    async def claim(
        self, owner: str, endpoints: Collection[str], limit: int, lease: float, now: float
    ) -> list[Claimed]:
        """Up to `limit` due deliveries to `endpoints`, held by `owner` for `lease` seconds."""
        if limit <= 0 or not endpoints:
            return []
        due = (
            select(_d.id)
            .where(_d.status == PENDING, _d.next_attempt_at <= now, _d.endpoint.in_(list(endpoints)))
            .order_by(_d.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(webhook_deliveries)
            .where(_d.id.in_(due.scalar_subquery()))
            .values(claimed_by=owner, next_attempt_at=now + lease)
            .returning(_d.id, _d.message_id, _d.endpoint, _d.principal, _d.event_type, _d.body)
        )
        async with self._write() as db:
            rows = (await db.execute(claim)).all()
        return [
            Claimed(r.id, r.message_id, r.endpoint, r.principal, r.event_type, r.body.encode()) for r in rows
        ]

    async def record(
        self, claimed: Claimed, owner: str, attempt: Attempt, decide: Callable[[int, Attempt], Outcome]
    ) -> str | None:
        """Record `attempt`, then move the delivery on as `decide(round_attempts, attempt)` says.
        The delivery's new status; None if another worker holds it now (this claim's lease ran
        out), in which case only the attempt is recorded."""
        async with self._write() as db:
            await db.execute(
                insert(webhook_attempts).values(
                    delivery_id=claimed.id,
                    at=attempt.at,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    duration_ms=attempt.duration_ms,
                )
            )
            row = (
                await db.execute(
                    select(_d.status, _d.claimed_by, _d.round_attempts)
                    .where(_d.id == claimed.id)
                    .with_for_update()
                )
            ).first()
            if row is None or row.claimed_by != owner:
                return None
            outcome = decide(row.round_attempts + 1, attempt)
            status = outcome.status
            if row.status == DISABLED and status != DELIVERED:
                status = DISABLED  # the endpoint was disabled while this attempt was in flight
            await db.execute(
                update(webhook_deliveries)
                .where(_d.id == claimed.id)
                .values(
                    status=status,
                    attempts=_d.attempts + 1,
                    round_attempts=_d.round_attempts + 1,
                    next_attempt_at=outcome.next_attempt_at,
                    claimed_by=None,
                    last_status=attempt.status_code,
                    last_error=attempt.error,
                    delivered_at=attempt.at if status == DELIVERED else None,
                )
            )
            if outcome.status == DISABLED and outcome.reason is not None:
                await disable_endpoint(db, claimed.endpoint, outcome.reason, attempt.at)
        return status

    async def release(self, ids: Collection[str], owner: str, now: float) -> None:
        """Give back claims not attempted (at shutdown): due again at once, for any worker."""
        if not ids:
            return
        async with self._write() as db:
            await db.execute(
                update(webhook_deliveries)
                .where(_d.id.in_(list(ids)), _d.claimed_by == owner, _d.status == PENDING)
                .values(claimed_by=None, next_attempt_at=now)
            )

    async def next_due(self, endpoints: Collection[str]) -> float | None:
        """When the earliest pending delivery to `endpoints` is due (None: nothing pending)."""
        if not endpoints:
            return None
        async with self.store.engine.connect() as db:
            found = await db.execute(
                select(func.min(_d.next_attempt_at)).where(
                    _d.status == PENDING, _d.endpoint.in_(list(endpoints))
                )
            )
            value = found.scalar()
        return None if value is None else float(value)
