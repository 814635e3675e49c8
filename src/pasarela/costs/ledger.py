"""The cost ledger: one row per charged call in the durable store, and a running spend per agent.

Charges are queued by the call and written in batches (every `flush_interval`), each batch one
transaction that inserts the rows and adds to the spend of each agent's day and month, so
replicas sharing PostgreSQL share every budget. A budget reads the spend as last fetched (at
most `refresh` old) plus what this replica has charged since: a burst across replicas may
overshoot a budget by what they charge within that time, never by more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from pasarela.state import StateStore
from pasarela.state.tables import cost_spend, costs
from pasarela.traffic.quotas import Period, period_of

log = structlog.get_logger("pasarela.costs")
MAX_PENDING = 100_000  # charges held while the store is unreachable; beyond, the oldest are dropped

SpendKey = tuple[str, str, str]  # principal, period, currency


@dataclass(frozen=True, slots=True)
class Charge:
    at: float
    request_id: str
    principal: str
    roles: str  # JSON list, sorted
    backend: str
    tool: str
    units: float | None
    seconds: float
    amount: float
    currency: str


class CostLedger:
    def __init__(self, store: StateStore, *, flush_interval: float = 1.0, refresh: float = 1.0) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.refresh = refresh
        self._pending: list[Charge] = []
        self._unflushed: dict[SpendKey, float] = defaultdict(float)  # charged here, not yet written
        self._fetched: dict[SpendKey, tuple[float, float]] = {}  # key → (spent in the store, when read)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pasarela-cost-ledger")

    def charge(self, charge: Charge) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop(0)
            self.dropped += 1
        self._pending.append(charge)
        for key in _keys(charge):
            self._unflushed[key] += charge.amount

    async def spent(self, principal: str, per: Period, currency: str, now: float) -> float:
        """What `principal` has spent in `currency` this UTC day or month."""
        key = (principal, period_of(per, now)[0], currency)
        found = self._fetched.get(key)
        if found is None or now - found[1] >= self.refresh:
            async with self.store.engine.connect() as db:
                stored = (
                    await db.execute(
                        select(cost_spend.c.spent).where(
                            cost_spend.c.principal == key[0],
                            cost_spend.c.period == key[1],
                            cost_spend.c.currency == key[2],
                        )
                    )
                ).scalar()
            found = (float(stored or 0.0), now)
            self._fetched[key] = found
        return found[0] + self._unflushed.get(key, 0.0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except (SQLAlchemyError, OSError) as exc:
                log.error("cost_write_failed", error=type(exc).__name__, pending=len(self._pending))

    async def flush(self) -> None:
        """Write what is queued (kept queued if the store cannot take it)."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            added: dict[SpendKey, float] = defaultdict(float)
            for charge in batch:
                for key in _keys(charge):
                    added[key] += charge.amount
            try:
                await self._write(batch, added)
            except BaseException:
                self._pending[:0] = batch
                raise
            for key, amount in added.items():
                self._unflushed[key] -= amount
                if abs(self._unflushed[key]) < 1e-12:
                    del self._unflushed[key]
                fetched = self._fetched.get(key)
                if fetched is not None:  # what was written is in the store now
                    self._fetched[key] = (fetched[0] + amount, fetched[1])

    async def _write(self, batch: list[Charge], added: dict[SpendKey, float]) -> None:
        insert = self.store.insert(cost_spend)
        upsert = insert.on_conflict_do_update(
            index_elements=["principal", "period", "currency"],
            set_={"spent": cost_spend.c.spent + insert.excluded.spent},
        )
        async with self.store.engine.begin() as db:
            await db.execute(costs.insert(), [_row(charge) for charge in batch])
            for (principal, period, currency), amount in added.items():
                await db.execute(
                    upsert.values(principal=principal, period=period, currency=currency, spent=amount)
                )

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except (SQLAlchemyError, OSError) as exc:
            log.error("cost_drain_failed", error=type(exc).__name__, lost=len(self._pending))


def _keys(charge: Charge) -> tuple[SpendKey, SpendKey]:
    return (
        (charge.principal, period_of("day", charge.at)[0], charge.currency),
        (charge.principal, period_of("month", charge.at)[0], charge.currency),
    )


def _row(charge: Charge) -> dict[str, Any]:
    return {
        "at": charge.at,
        "day": period_of("day", charge.at)[0],
        "request_id": charge.request_id[:200],
        "principal": charge.principal[:200],
        "roles": charge.roles,
        "backend": charge.backend,
        "tool": charge.tool,
        "units": charge.units,
        "seconds": round(charge.seconds, 6),
        "amount": charge.amount,
        "currency": charge.currency,
    }
