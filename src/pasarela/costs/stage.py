"""The cost stage, right before the backend (once per attempt): an agent past a `deny` budget is
refused before its call costs anything; an answered call is charged to the ledger.

Inside the cache, so a cached answer is free and never refused for a spent budget; only what
the backend answered is charged (a failure costs nothing).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import orjson
import structlog

from pasarela.costs.ledger import Charge, CostLedger
from pasarela.costs.pricing import Budget, Price
from pasarela.errors import BudgetExceeded
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.telemetry.metrics import GatewayMetrics
from pasarela.traffic.quotas import period_of

log = structlog.get_logger("pasarela.costs")


class CostStage:
    name = "cost"

    def __init__(
        self,
        prices: Mapping[str, Price],
        budgets: Sequence[Budget],
        ledger: CostLedger,
        metrics: GatewayMetrics,
    ) -> None:
        self._prices = dict(prices)
        self._budgets = tuple(budgets)
        self._ledger = ledger
        self._metrics = metrics

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        now = time.time()
        warnings = [await self._check(call, budget, now) for budget in self._budgets_of(call)]
        price = self._prices.get(call.tool.name)
        started = time.perf_counter()
        outcome = await call_next(call)
        if price is not None:
            self._charge(call, price, outcome, time.perf_counter() - started, now)
        shown = [w for w in warnings if w]
        return outcome.with_meta(budget_warning="; ".join(shown)) if shown else outcome

    def _budgets_of(self, call: Call) -> list[Budget]:
        principal = call.principal
        return [b for b in self._budgets if b.applies_to(principal.id, principal.roles)]

    async def _check(self, call: Call, budget: Budget, now: float) -> str | None:
        """None while within the budget; a warning past a `warn` one; past `deny`, a refusal."""
        spent = await self._ledger.spent(call.principal.id, budget.per, budget.currency, now)
        if spent < budget.limit:
            return None
        agent = self._metrics.agent(call.principal.id)
        self._metrics.budget_exceeded.labels(agent, budget.action).inc()
        what = f"{budget.limit:g} {budget.currency} per {budget.per} ({budget.label})"
        if budget.action == "deny":
            log.info("budget_exceeded", principal=call.principal.id, budget=budget.label, spent=spent)
            raise BudgetExceeded(
                f"principal {call.principal.id!r} has spent its cost budget of {what}: "
                f"{spent:.4f} {budget.currency} so far; it resets at the start of the next UTC {budget.per}",
                retry_after=period_of(budget.per, now)[1],
                budget=budget.label,
                spent=spent,
                limit=budget.limit,
                currency=budget.currency,
            )
        return f"the cost budget of {what} is spent ({spent:.4f} {budget.currency})"

    def _charge(self, call: Call, price: Price, outcome: Outcome, seconds: float, now: float) -> None:
        amount, units = price.charge(outcome.result, seconds)
        self._ledger.charge(
            Charge(
                at=now,
                request_id=call.request_id,
                principal=call.principal.id,
                roles=orjson.dumps(sorted(call.principal.roles)).decode(),
                backend=call.tool.backend,
                tool=call.tool.name,
                units=units,
                seconds=seconds,
                amount=amount,
                currency=price.currency,
            )
        )
        self._metrics.cost.labels(call.tool.backend, call.tool.name, price.currency).inc(amount)
        self._metrics.agent_cost.labels(self._metrics.agent(call.principal.id), price.currency).inc(amount)
