"""Quotas: daily or monthly budgets per principal, tool, role or backend, kept in the durable state.

Each charge is one atomic upsert (`used = used + 1 WHERE used < limit`) in the state store, so
replicas sharing PostgreSQL share every budget and a restart resets nothing. Periods are UTC
calendar days and months.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select

from pasarela.catalog.spec import ToolSpec
from pasarela.config.model import Settings
from pasarela.config.traffic import KeyDimension
from pasarela.errors import QuotaExceeded
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.state import StateStore
from pasarela.state.tables import quota_usage
from pasarela.telemetry.metrics import GatewayMetrics
from pasarela.traffic.rules import RuleBook, Scope

Period = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class QuotaRule:
    label: str
    limit: int
    per: Period
    scope: Scope
    key: tuple[KeyDimension, ...]


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    rule: str
    subject: str
    period: str
    used: int
    limit: int


def compile_quota_rules(settings: Settings) -> list[QuotaRule]:
    rules: list[QuotaRule] = []
    for index, rule in enumerate(settings.quotas):
        scope = Scope(
            frozenset(rule.principals), frozenset(rule.roles), frozenset(rule.tools), frozenset(rule.backends)
        )
        rules.append(QuotaRule(f"quotas[{index}]", rule.limit, rule.per, scope, tuple(rule.key)))
    return rules


def period_of(per: Period, now: float) -> tuple[str, float]:
    """The period's name and the seconds until the next one starts."""
    moment = datetime.fromtimestamp(now, UTC)
    if per == "day":
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return day.strftime("%Y-%m-%d"), day.timestamp() + 86400 - now
    month = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        month.replace(year=month.year + 1, month=1)
        if month.month == 12
        else month.replace(month=month.month + 1)
    )
    return month.strftime("%Y-%m"), following.timestamp() - now


class QuotaLedger:
    def __init__(self, state: StateStore) -> None:
        self._state = state

    async def charge(self, rule: str, subject: str, period: str, limit: int) -> bool:
        """Count one call; False (and nothing counted) when the budget is spent."""
        table = quota_usage
        statement = (
            self._state.insert(table)
            .values(rule=rule, subject=subject, period=period, used=1)
            .on_conflict_do_update(
                index_elements=["rule", "subject", "period"],
                set_={"used": table.c.used + 1},
                where=table.c.used < limit,
            )
            .returning(table.c.used)
        )
        async with self._state.engine.begin() as db:
            charged = (await db.execute(statement)).first()
        return charged is not None

    async def usage(self, periods: Iterable[str]) -> list[tuple[str, str, str, int]]:
        """(rule, subject, period, used) for the given periods."""
        query = (
            select(quota_usage)
            .where(quota_usage.c.period.in_(list(periods)))
            .order_by(quota_usage.c.rule, quota_usage.c.subject)
        )
        async with self._state.engine.connect() as db:
            rows = (await db.execute(query)).all()
        return [(r.rule, r.subject, r.period, int(r.used)) for r in rows]


class QuotaStage:
    name = "quota"

    def __init__(
        self,
        rules: Sequence[QuotaRule],
        tools: Iterable[ToolSpec],
        ledger: QuotaLedger,
        metrics: GatewayMetrics,
    ) -> None:
        self._rules = RuleBook(rules, tools)
        self._ledger = ledger
        self._metrics = metrics

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        now = time.time()
        for rule, subject in self._rules.counters(call.principal, call.tool):
            period, resets_in = period_of(rule.per, now)
            if not await self._ledger.charge(rule.label, subject, period, rule.limit):
                self._metrics.quota_exceeded.labels(call.tool.backend, call.tool.name, rule.label).inc()
                raise QuotaExceeded(
                    f"quota of {rule.limit} calls per {rule.per} ({rule.label}) is used up for {call.tool.name}",
                    retry_after=resets_in,
                    quota=rule.label,
                )
        return await call_next(call)


async def quota_report(settings: Settings, ledger: QuotaLedger, now: float) -> list[QuotaUsage]:
    """Usage of every configured quota in its current period (for `pasarela quotas`)."""
    rules = compile_quota_rules(settings)
    periods = {rule.per: period_of(rule.per, now)[0] for rule in rules}
    limits = {rule.label: rule for rule in rules}
    report: list[QuotaUsage] = []
    for label, subject, period, used in await ledger.usage(set(periods.values())):
        rule = limits.get(label)
        if rule is not None and periods[rule.per] == period:
            report.append(QuotaUsage(label, subject, period, used, rule.limit))
    return report
