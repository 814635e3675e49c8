"""Benchmark: what each traffic and resilience stage adds to one call, per storage.

    .venv/bin/python -m bench.stages [--redis redis://127.0.0.1:6379/9] [--postgres postgresql://…]

Each stage runs alone around a terminal that answers at once, so a figure is that stage's own
cost: rate limit (one rule), cache hit and miss, resilience (bulkhead → breaker → retry) on
the success path, a breaker that is open (the fail-fast path), quota (one durable upsert)
and idempotency keys (claim + complete). Shared state is measured on memory:// and redis://,
durable state on SQLite and PostgreSQL. Sequential calls: latency, not throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pasarela.caching import CacheStage, ResultCache
from pasarela.catalog import ToolAnnotations, ToolSpec
from pasarela.config.model import Settings
from pasarela.config.traffic import CacheSettings, CircuitBreakerSettings, RetrySettings
from pasarela.errors import PasarelaError
from pasarela.identity import Principal
from pasarela.pipeline.call import Call, Door, Outcome, Stage
from pasarela.resilience import BackendGuard, Bulkhead, CircuitBreaker, ResilienceStage, Retrier
from pasarela.shared import SharedState, open_shared
from pasarela.state import StateStore, open_state
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

TOOL = ToolSpec(
    "get_customer",
    "",
    {"type": "object"},
    "crm",
    "getCustomer",
    annotations=ToolAnnotations(read_only=True, idempotent=True),
)
PRINCIPAL = Principal("support-bot", frozenset({"customer_support"}), {"region": "EU"})
OUTCOME = Outcome({"customer_id": "12345", "name": "John Doe"}, {"backend": "crm", "source": "crm"})


async def terminal(call: Call) -> Outcome:
    return OUTCOME


def make_call(arguments: dict[str, object] | None = None, key: str | None = None) -> Call:
    return Call(PRINCIPAL, TOOL, arguments or {"customer_id": "12345"}, Door.REST, "r", key)


async def measure(label: str, once: Callable[[int], Awaitable[object]], repeat: int = 3000) -> None:
    for i in range(200):
        await once(-i - 1)
    samples = []
    for i in range(repeat):
        started = time.perf_counter()
        await once(i)
        samples.append(time.perf_counter() - started)
    samples.sort()
    p50 = statistics.median(samples) * 1e6
    p99 = samples[int(0.99 * len(samples))] * 1e6
    print(f"{label:52s} p50 {p50:8.1f} µs   p99 {p99:8.1f} µs", flush=True)


def staged(stage: Stage, call_of: Callable[[int], Call]) -> Callable[[int], Awaitable[object]]:
    async def once(i: int) -> object:
        try:
            return await stage(call_of(i), terminal)
        except PasarelaError as exc:
            return exc

    return once


async def shared_stages(shared: SharedState, name: str) -> None:
    metrics = GatewayMetrics()
    settings = Settings.model_validate(
        {"version": 1, "tools": {"get_customer": {"rate_limit": "1000000/minute"}}}
    )
    limiter = RateLimitStage(compile_rate_rules(settings), [TOOL], shared, metrics)
    await measure(f"[{name}] rate limit, one rule, admitted", staged(limiter, lambda i: make_call()))

    cache = CacheStage(
        ResultCache(shared.cache), {"get_customer": CacheSettings(ttl=300)}, {}, frozenset(), metrics
    )
    await cache(make_call(), terminal)
    await measure(f"[{name}] cache hit", staged(cache, lambda i: make_call()))
    await measure(
        f"[{name}] cache miss (lookup + store)",
        staged(cache, lambda i: make_call({"customer_id": f"{name}-{i}"})),
    )

    def resilience() -> ResilienceStage:
        sync = 0.1 if shared.remote else 0.0  # as the gateway sets it (flow.BREAKER_SYNC_INTERVAL)
        breaker = CircuitBreaker(
            "crm", CircuitBreakerSettings(), shared.breakers, metrics, sync_interval=sync
        )
        guard = BackendGuard(Bulkhead("crm", 50, 1.0), breaker, Retrier(RetrySettings()))
        return ResilienceStage({"crm": guard}, metrics)

    await shared.breakers.reset("crm")
    success = staged(resilience(), lambda i: make_call())
    await measure(f"[{name}] resilience: bulkhead+breaker+retry, success", success)
    await shared.breakers.trip("crm", time.time(), 3600)
    await measure(
        f"[{name}] breaker open: fail fast (CircuitOpen)", staged(resilience(), lambda i: make_call())
    )
    await shared.breakers.reset("crm")


async def durable_stages(state: StateStore, name: str) -> None:
    metrics = GatewayMetrics()
    settings = Settings.model_validate(
        {
            "version": 1,
            "quotas": [
                {"tools": ["get_customer"], "limit": 10**9, "per": "day", "key": ["principal", "tool"]}
            ],
        }
    )
    quota = QuotaStage(compile_quota_rules(settings), [TOOL], QuotaLedger(state), metrics)
    await measure(f"[{name}] quota: one durable charge", staged(quota, lambda i: make_call()), repeat=1000)
    idempotency = IdempotencyStage(IdempotencyLedger(state, 86400, 300), metrics)
    stamp = time.time_ns()
    await measure(
        f"[{name}] idempotency key: claim + complete",
        staged(idempotency, lambda i: make_call(key=f"k-{stamp}-{i}")),
        repeat=1000,
    )
    await idempotency(make_call(key=f"replay-{stamp}"), terminal)
    await measure(
        f"[{name}] idempotency key: replay",
        staged(idempotency, lambda i: make_call(key=f"replay-{stamp}")),
        repeat=1000,
    )
    await measure(f"[{name}] idempotency stage, no key", staged(idempotency, lambda i: make_call()))


async def main(redis_url: str | None, postgres_url: str | None) -> None:
    for url in ["memory://", *([redis_url] if redis_url else [])]:
        shared = await open_shared(url)
        try:
            await shared_stages(shared, url.split("://")[0])
        finally:
            await shared.aclose()
    with tempfile.TemporaryDirectory() as scratch:
        urls = [f"sqlite:///{Path(scratch) / 'bench.db'}", *([postgres_url] if postgres_url else [])]
        for url in urls:
            state = await open_state(url, Path(scratch))
            try:
                await durable_stages(state, url.split("://")[0])
            finally:
                await state.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9", help="'' to skip")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="'' to skip")
    options = parser.parse_args()
    asyncio.run(main(options.redis or None, options.postgres or None))
