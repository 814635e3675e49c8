"""SLO error budgets from the audit trail: how much of each objective's budget its window used.

The same SLIs as the Prometheus rules (telemetry/slo.py), counted from durable data so every
replica and restart is included: availability (5xx among ok and 5xx), error rate (5xx among all
calls), latency (calls slower than the threshold among all calls).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select

from pasarela.console.trail import DOOR
from pasarela.state import StateStore
from pasarela.state.tables import audit_records
from pasarela.telemetry.kpis import server_error
from pasarela.telemetry.slo import Objective


@dataclass(frozen=True, slots=True)
class Budget:
    objective: Objective
    events: int  # the calls the SLI counts in the window
    bad: int  # those that went wrong

    @property
    def consumed(self) -> float | None:
        """The share of the error budget used (1.0: all of it; more: overspent); None without calls."""
        if not self.events:
            return None
        budget = self.objective.budget
        return (self.bad / self.events) / budget if budget > 0 else float(self.bad > 0)

    @property
    def remaining(self) -> float | None:
        used = self.consumed
        return None if used is None else max(0.0, 1.0 - used)


async def budgets(
    store: StateStore, objectives: Sequence[Objective], now: float | None = None
) -> list[Budget]:
    now = time.time() if now is None else now
    return [await _budget(store, objective, now) for objective in objectives]


async def _budget(store: StateStore, objective: Objective, now: float) -> Budget:
    c = audit_records.c
    subject = c.backend if objective.subject == "backend" else c.tool
    threshold_ms = (objective.threshold or 0.0) * 1000
    query = (
        select(c.outcome, func.count(), func.sum(case((c.latency_ms > threshold_ms, 1), else_=0)))
        .where(subject == objective.name, c.at >= now - objective.window, c.door != DOOR)
        .group_by(c.outcome)
    )
    async with store.engine.connect() as db:
        rows = (await db.execute(query)).all()
    events = bad = 0
    for outcome, count, slow in rows:
        failed = server_error(outcome)
        if objective.sli == "latency":
            events += count
            bad += int(slow or 0)
        elif objective.sli == "availability":
            if outcome == "ok" or failed:
                events += count
                bad += count if failed else 0
        else:  # error_rate
            events += count
            bad += count if failed else 0
    return Budget(objective, events, bad)
