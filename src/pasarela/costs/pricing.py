"""Prices (`cost:` of a backend, or of a tool, which replaces its backend's) and budgets, compiled
once at load: what a call costs is then arithmetic on its answer and its time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jmespath
import structlog
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from pasarela.catalog.spec import ToolSpec
from pasarela.config.model import Settings
from pasarela.config.observability import BudgetRule, CostSettings
from pasarela.errors import ConfigProblem
from pasarela.traffic.quotas import Period

log = structlog.get_logger("pasarela.costs")
COMPOSITE = "composite"


@dataclass(frozen=True, slots=True)
class Price:
    per_call: float
    per_unit: float
    per_second: float
    currency: str
    units: ParsedResult | None = None

    def charge(self, result: Any, seconds: float) -> tuple[float, float | None]:
        """(amount, units counted) for one answered call."""
        units = self.count(result) if self.units is not None else None
        amount = self.per_call + self.per_second * seconds + self.per_unit * (units or 0.0)
        return amount, units

    def count(self, result: Any) -> float:
        assert self.units is not None
        try:
            found = self.units.search(result)
        except JMESPathError:
            found = None
        if isinstance(found, bool) or not isinstance(found, int | float):
            return 0.0  # no number where `units` looks: nothing to count, never a failed call
        return float(found)


@dataclass(frozen=True, slots=True)
class Budget:
    label: str  # budgets[i]
    principals: frozenset[str]
    roles: frozenset[str]
    limit: float
    currency: str
    per: Period
    action: str  # warn | deny

    def applies_to(self, principal: str, roles: Iterable[str]) -> bool:
        if not self.principals and not self.roles:
            return True
        return principal in self.principals or not self.roles.isdisjoint(roles)


def _price(settings: CostSettings) -> Price:
    units = jmespath.compile(settings.units) if settings.units else None
    return Price(settings.per_call, settings.per_unit, settings.per_second, settings.currency, units)


def compile_prices(
    settings: Settings, tools: Iterable[ToolSpec], source: str
) -> tuple[dict[str, Price], list[ConfigProblem]]:
    """The price of every priced tool, and what is wrong with the `cost:` settings."""
    prices: dict[str, Price] = {}
    problems: list[ConfigProblem] = []
    by_backend: dict[str, Price] = {}
    for name, backend in settings.backends.items():
        if backend.cost is not None:
            try:
                by_backend[name] = _price(backend.cost)
            except JMESPathError as exc:
                problems.append(
                    ConfigProblem(source, f"backends.{name}.cost.units", f"not a JMESPath: {exc}")
                )
    for tool in tools:
        own = settings.tools.get(tool.name)
        if own is not None and own.cost is not None:
            if tool.backend == COMPOSITE:
                problems.append(
                    ConfigProblem(source, f"tools.{tool.name}.cost", "a composite costs what its steps cost")
                )
                continue
            try:
                prices[tool.name] = _price(own.cost)
            except JMESPathError as exc:
                problems.append(
                    ConfigProblem(source, f"tools.{tool.name}.cost.units", f"not a JMESPath: {exc}")
                )
        elif tool.backend in by_backend:
            prices[tool.name] = by_backend[tool.backend]
    return prices, problems


def compile_budgets(rules: Iterable[BudgetRule]) -> list[Budget]:
    return [
        Budget(
            f"budgets[{index}]",
            frozenset(rule.principals),
            frozenset(rule.roles),
            rule.limit,
            rule.currency,
            rule.per,
            rule.action,
        )
        for index, rule in enumerate(rules)
    ]
