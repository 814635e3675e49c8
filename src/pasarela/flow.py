"""The traffic and resilience stages of a configuration, and the checks that keep them sane.

Stages, in pipeline order after validation: idempotency keys → rate limits → quotas → cache →
fallback → contract (transform + output schema) → resilience (bulkhead → breaker → retry; the
timeout is the connector's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pasarela.caching import CacheStage, ResultCache
from pasarela.catalog import Catalog
from pasarela.config.loader import LoadedConfig
from pasarela.config.traffic import CacheSettings
from pasarela.contracts import ContractStage
from pasarela.errors import ConfigProblem
from pasarela.graphs import find_cycle
from pasarela.pipeline.call import CallTracer, Stage
from pasarela.plans import ToolPlan
from pasarela.resilience import BackendGuard, Bulkhead, CircuitBreaker, ResilienceStage, Retrier
from pasarela.resilience.fallback import CACHE, FallbackStage
from pasarela.shared import SharedState
from pasarela.state import StateStore
from pasarela.telemetry import GatewayMetrics
from pasarela.traffic import (
    IdempotencyLedger,
    IdempotencyStage,
    QuotaLedger,
    QuotaStage,
    RateLimitStage,
    compile_quota_rules,
    compile_rate_rules,
)

# How long a replica trusts the breaker state it read from a remote store: a breaker opened
# elsewhere is seen within this, and a closed one costs one Redis read per interval, not per call.
BREAKER_SYNC_INTERVAL = 0.1


@dataclass(frozen=True, slots=True)
class FlowStages:
    stages: tuple[Stage, ...]
    fallback: FallbackStage  # bound to Gateway.call once the gateway exists


def build_flow_stages(
    config: LoadedConfig,
    catalog: Catalog,
    shared: SharedState,
    state: StateStore,
    metrics: GatewayMetrics,
    plans: Mapping[str, ToolPlan],
    tracer: CallTracer | None = None,
    extra: tuple[Stage, ...] = (),
) -> FlowStages:
    """`extra` stages run innermost, once per attempt, right before the backend (costs)."""
    settings = config.settings
    tools = list(catalog)
    cache_settings: dict[str, CacheSettings] = {
        name: plan.cache for name, plan in plans.items() if plan.cache is not None
    }
    fallbacks = {name: plan.fallback for name, plan in plans.items() if plan.fallback}
    contracts = {name: plan.contract for name, plan in plans.items() if plan.contract is not None}
    results = ResultCache(shared.cache)
    fallback = FallbackStage(fallbacks, results, cache_settings, metrics)
    guards = {
        name: BackendGuard(
            Bulkhead(name, backend.concurrency, backend.concurrency_wait, backend.concurrency_per_principal),
            CircuitBreaker(
                name,
                backend.circuit_breaker,
                shared.breakers,
                metrics,
                sync_interval=BREAKER_SYNC_INTERVAL if shared.remote else 0.0,
            ),
            Retrier(backend.retry),
        )
        for name, backend in settings.backends.items()
    }
    rate_rules = compile_rate_rules(settings)
    quota_rules = compile_quota_rules(settings)
    invalidates = {name: plan.invalidates for name, plan in plans.items() if plan.invalidates}
    # A stage with nothing configured is left out of the chain: every layer costs every call.
    optional: list[tuple[bool, Stage]] = [
        (bool(rate_rules), RateLimitStage(rate_rules, tools, shared, metrics)),
        (bool(quota_rules), QuotaStage(quota_rules, tools, QuotaLedger(state), metrics)),
        (
            bool(cache_settings or invalidates),
            CacheStage(
                results,
                cache_settings,
                invalidates,
                frozenset(name for name, chain in fallbacks.items() if CACHE in chain),
                metrics,
            ),
        ),
        (bool(fallbacks), fallback),
        # Inside cache and fallback: both hold results already in shape.
        (bool(contracts), ContractStage(contracts, metrics)),
    ]
    stages: tuple[Stage, ...] = (
        # Always present: any call may carry an idempotency key.
        IdempotencyStage(
            IdempotencyLedger(state, settings.idempotency.ttl, settings.idempotency.abandon_after), metrics
        ),
        *(stage for needed, stage in optional if needed),
        ResilienceStage(guards, metrics, tracer),
        *extra,
    )
    return FlowStages(stages, fallback)


def check_flow(catalog: Catalog, config: LoadedConfig) -> list[ConfigProblem]:
    """Cache only what is read-only, fall back only to what exists, without cycles."""
    settings = config.settings
    problems: list[ConfigProblem] = []

    def problem(path: str, message: str) -> None:
        problems.append(ConfigProblem(config.source, path, message))

    known = set(catalog.names()) | set(catalog.quarantined())
    for name, tool in settings.tools.items():
        spec = catalog.get(name) if name in catalog else None
        if (
            tool.cache is not None
            and tool.cache.ttl > 0
            and spec is not None
            and not spec.annotations.read_only
        ):
            problem(f"tools.{name}.cache", "only read-only tools are cached: this tool may change data")
        for index, target in enumerate(tool.invalidates):
            if target not in known:
                problem(f"tools.{name}.invalidates[{index}]", f"no tool named {target!r}")
        for index, option in enumerate(tool.fallback):
            where = f"tools.{name}.fallback[{index}]"
            if option == CACHE:
                if tool.cache is None or tool.cache.ttl == 0:
                    problem(where, "`cache` needs this tool to be cached (tools.<name>.cache with ttl > 0)")
            elif option == name:
                problem(where, "a tool cannot be its own fallback")
            elif option not in known:
                problem(where, f"no tool named {option!r} (expected `cache` or a tool name)")
    # `cache` is where a chain ends, not a tool it leads to.
    cycle = find_cycle(
        {name: [o for o in tool.fallback if o != CACHE] for name, tool in settings.tools.items()}
    )
    if cycle:
        problem(f"tools.{cycle[0]}.fallback", "fallbacks loop: " + " → ".join(cycle))
    backends = set(settings.backends)
    for kind, rules in (("rate_limits", settings.rate_limits), ("quotas", settings.quotas)):
        for index, rule in enumerate(rules):
            for target in rule.tools:
                if target not in known:
                    problem(f"{kind}[{index}].tools", f"no tool named {target!r}")
            for target in rule.backends:
                if target not in backends:
                    problem(f"{kind}[{index}].backends", f"no backend named {target!r}")
    return problems
