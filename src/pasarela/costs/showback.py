"""Showback: what each agent, role, backend and tool cost, per UTC day or month, from the ledger.

`showback` is the one computation, for `pasarela costs` and anything else that shows costs. A
call made by a principal with several roles counts in full for each of them (showback, not
chargeback: the role totals may add up to more than the whole).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from sqlalchemy import func, select

from pasarela.state import StateStore
from pasarela.state.tables import costs

Granularity = Literal["day", "month"]
DIMENSIONS = ("agent", "role", "backend", "tool")


@dataclass
class Spend:
    calls: int = 0
    amount: float = 0.0
    units: float = 0.0
    seconds: float = 0.0

    def add(self, calls: int, amount: float, units: float, seconds: float) -> None:
        self.calls += calls
        self.amount += amount
        self.units += units
        self.seconds += seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "amount": round(self.amount, 6),
            "units": round(self.units, 6),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Showback:
    by: Granularity
    since: str
    # period → dimension → (name, currency) → spend
    periods: dict[str, dict[str, dict[tuple[str, str], Spend]]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": self.since,
            "periods": {
                period: {
                    dimension: [
                        {"name": name, "currency": currency, **spend.as_json()}
                        for (name, currency), spend in sorted(entries.items(), key=lambda e: -e[1].amount)
                    ]
                    for dimension, entries in dimensions.items()
                }
                for period, dimensions in sorted(self.periods.items())
            },
        }


async def showback(store: StateStore, since_day: str, by: Granularity = "day") -> Showback:
    """Costs from UTC day `since_day` (YYYY-MM-DD) on, per `by` and per dimension."""
    c = costs.c
    query = (
        select(
            c.day,
            c.principal,
            c.roles,
            c.backend,
            c.tool,
            c.currency,
            func.count(),
            func.sum(c.amount),
            func.coalesce(func.sum(c.units), 0.0),
            func.sum(c.seconds),
        )
        .where(c.day >= since_day)
        .group_by(c.day, c.principal, c.roles, c.backend, c.tool, c.currency)
    )
    async with store.engine.connect() as db:
        rows = (await db.execute(query)).all()
    report = Showback(by, since_day)
    for day, principal, roles, backend, tool, currency, calls, amount, units, seconds in rows:
        period = day if by == "day" else day[:7]
        dimensions = report.periods.setdefault(period, {d: defaultdict(Spend) for d in DIMENSIONS})
        figures = (int(calls), float(amount or 0.0), float(units or 0.0), float(seconds or 0.0))
        dimensions["agent"][(principal, currency)].add(*figures)
        dimensions["backend"][(backend, currency)].add(*figures)
        dimensions["tool"][(tool, currency)].add(*figures)
        for role in orjson.loads(roles) or ["(no role)"]:
            dimensions["role"][(role, currency)].add(*figures)
    return report
