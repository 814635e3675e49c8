"""The rate-limit stage: per principal × tool, per role, per backend, by `limits`.

Counters live in the shared state (memory:// or redis://), so replicas sharing Redis share
every limit. The moving-window strategy is exact: a limit of N per minute never admits N+1
calls in any minute, across all replicas.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import structlog
from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from pasarela.catalog.spec import ToolSpec
from pasarela.config.model import Settings
from pasarela.config.traffic import KeyDimension
from pasarela.errors import RateLimited
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.shared import SharedState, SharedStoreError
from pasarela.telemetry.metrics import GatewayMetrics
from pasarela.traffic.rules import RuleBook, Scope

log = structlog.get_logger("pasarela.ratelimit")


@dataclass(frozen=True, slots=True)
class RateRule:
    label: str  # where it was configured, e.g. tools.create_ticket.rate_limit
    limit: str
    item: RateLimitItem
    scope: Scope
    key: tuple[KeyDimension, ...]
    on_store_error: Literal["allow", "deny"] | None


def compile_rate_rules(settings: Settings) -> list[RateRule]:
    rules: list[RateRule] = []

    def add(
        label: str,
        limit: str,
        scope: Scope,
        key: Sequence[KeyDimension],
        on_error: Literal["allow", "deny"] | None,
    ) -> None:
        rules.append(RateRule(label, limit, parse(limit), scope, tuple(key), on_error))

    for name, backend in settings.backends.items():
        if backend.rate_limit is not None:
            add(
                f"backends.{name}.rate_limit", backend.rate_limit, Scope(backends=frozenset({name})), [], None
            )
    for name, tool in settings.tools.items():
        if tool.rate_limit is not None:
            add(
                f"tools.{name}.rate_limit",
                tool.rate_limit,
                Scope(tools=frozenset({name})),
                ["principal", "tool"],
                None,
            )
    for index, rule in enumerate(settings.rate_limits):
        scope = Scope(
            frozenset(rule.principals), frozenset(rule.roles), frozenset(rule.tools), frozenset(rule.backends)
        )
        add(f"rate_limits[{index}]", rule.limit, scope, rule.key, rule.on_store_error)
    return rules


class RateLimitStage:
    name = "rate_limit"

    def __init__(
        self,
        rules: Sequence[RateRule],
        tools: Iterable[ToolSpec],
        shared: SharedState,
        metrics: GatewayMetrics,
    ) -> None:
        self._rules = RuleBook(rules, tools)
        self._limiter = MovingWindowRateLimiter(shared.limiter_storage)
        self._metrics = metrics

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        for rule, counter in self._rules.counters(call.principal, call.tool):
            await self._charge(rule, counter, call)
        return await call_next(call)

    async def _charge(self, rule: RateRule, counter: str, call: Call) -> None:
        try:
            if await self._limiter.hit(rule.item, rule.label, counter):
                return
            stats = await self._limiter.get_window_stats(rule.item, rule.label, counter)
        except (StorageError, SharedStoreError) as exc:
            self._on_store_error(rule, call, exc)
            return
        self._metrics.rate_limited.labels(call.tool.backend, call.tool.name, rule.label).inc()
        raise RateLimited(
            f"rate limit {rule.limit} ({rule.label}) reached for {call.tool.name}",
            retry_after=stats.reset_time - time.time(),
            limit=rule.limit,
        )

    def _on_store_error(self, rule: RateRule, call: Call, exc: Exception) -> None:
        policy = rule.on_store_error or ("allow" if call.tool.annotations.read_only else "deny")
        self._metrics.limit_store_errors.labels(rule.label, policy).inc()
        log.warning(
            "rate_limit_store_unavailable",
            rule=rule.label,
            tool=call.tool.name,
            policy=policy,
            error=str(exc),
        )
        if policy == "deny":
            raise RateLimited(
                f"rate limit {rule.limit} ({rule.label}) cannot be checked (shared store unavailable); "
                "refusing this call to protect the backend",
                retry_after=1.0,
                limit=rule.limit,
            )
