"""The breaker judges the backend, not one caller: isolation per principal and `min_principals`,
with time under the test's control, on memory:// and redis://."""

from __future__ import annotations

import pytest

from pasarela.config.traffic import CircuitBreakerSettings
from pasarela.errors import CallerCircuitOpen, CircuitOpen
from pasarela.resilience import BreakerState, CircuitBreaker
from pasarela.resilience.breaker import caller_key
from pasarela.shared import SharedState
from pasarela.shared.memory import SWEEP_EVERY, MemoryBreakers
from pasarela.telemetry import GatewayMetrics

pytestmark = pytest.mark.anyio

SETTINGS = CircuitBreakerSettings(failure_ratio=0.5, min_calls=4, window=10, open_for=30, half_open_calls=2)
SALES, SUPPORT, COMPLIANCE = caller_key("sales-bot"), caller_key("support-bot"), caller_key("compliance-bot")


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000.0

    def __call__(self) -> float:
        return self.now


def breaker(shared: SharedState, clock: Clock, settings: CircuitBreakerSettings = SETTINGS) -> CircuitBreaker:
    return CircuitBreaker("crm", settings, shared.breakers, GatewayMetrics(), clock=clock)


async def outcome(b: CircuitBreaker, caller: str, *, failed: bool) -> None:
    permit = await b.admit("search_customers", caller)
    await b.record(permit, failed=failed, duration=0.01)


async def test_one_caller_failing_alone_is_isolated_and_others_pass(shared: SharedState) -> None:
    clock = Clock()
    b = breaker(shared, clock)
    for _ in range(3):
        await outcome(b, SUPPORT, failed=False)
        await outcome(b, SALES, failed=True)
    await outcome(b, SALES, failed=True)  # 4 of sales' own calls failed: its own min_calls
    assert await b.state() is BreakerState.CLOSED
    assert await b.state(SALES) is BreakerState.OPEN
    assert await b.state(SUPPORT) is BreakerState.CLOSED

    clock.now += 10
    with pytest.raises(CallerCircuitOpen) as refused:
        await b.admit("search_customers", SALES)
    assert refused.value.status == 503 and refused.value.code == "caller_circuit_open"
    assert refused.value.retry_after == pytest.approx(20)
    assert "check your arguments" in refused.value.detail
    # Others pass, however many calls sales keeps making.
    for _ in range(10):
        with pytest.raises(CallerCircuitOpen):
            await b.admit("search_customers", SALES)
        await outcome(b, SUPPORT, failed=False)
        await outcome(b, COMPLIANCE, failed=False)
    assert await b.state() is BreakerState.CLOSED


async def test_an_isolated_caller_gets_probes_like_a_backend(shared: SharedState) -> None:
    clock = Clock()
    b = breaker(shared, clock)
    for _ in range(4):
        await outcome(b, SALES, failed=True)
    clock.now += 30
    assert await b.state(SALES) is BreakerState.HALF_OPEN
    first = await b.admit("search_customers", SALES)
    second = await b.admit("search_customers", SALES)
    assert first.caller_probe and second.caller_probe and not first.probe
    with pytest.raises(CallerCircuitOpen):
        await b.admit("search_customers", SALES)
    await b.record(first, failed=True, duration=0.01)  # still failing: paused again, from now
    assert await b.state(SALES) is BreakerState.OPEN
    clock.now += 30
    for permit in [await b.admit("search_customers", SALES), await b.admit("search_customers", SALES)]:
        await b.record(permit, failed=False, duration=0.01)
    assert await b.state(SALES) is BreakerState.CLOSED
    assert await b.state() is BreakerState.CLOSED


async def test_failures_from_min_principals_open_it_for_everyone(shared: SharedState) -> None:
    clock = Clock()
    b = breaker(shared, clock)
    await outcome(b, SALES, failed=True)
    await outcome(b, SUPPORT, failed=True)
    await outcome(b, SALES, failed=True)
    assert await b.state() is BreakerState.CLOSED  # 3 calls: below min_calls
    await outcome(b, SUPPORT, failed=True)
    assert await b.state() is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as refused:
        await b.admit("search_customers", COMPLIANCE)
    assert not isinstance(refused.value, CallerCircuitOpen)


async def test_an_isolated_caller_counts_towards_min_principals(shared: SharedState) -> None:
    """A real outage seen first by one principal: it is isolated and its calls leave the backend's
    window, so one failure of another does not open it for all (tests/attacks/test_breaker_abuse.py);
    once the others' own failures reach min_calls, the isolated one is the second failing principal."""
    clock = Clock()
    b = breaker(shared, clock)
    for _ in range(4):
        await outcome(b, SALES, failed=True)
    assert await b.state(SALES) is BreakerState.OPEN
    for _ in range(3):
        await outcome(b, SUPPORT, failed=True)
        assert await b.state() is BreakerState.CLOSED
    await outcome(b, SUPPORT, failed=True)
    assert await b.state() is BreakerState.OPEN


async def test_a_rare_failure_of_a_healthy_caller_does_not_make_it_failing(shared: SharedState) -> None:
    clock = Clock()
    b = breaker(shared, clock)
    for _ in range(9):
        await outcome(b, SUPPORT, failed=False)
    await outcome(b, SUPPORT, failed=True)  # 1 in 10: below its failure_ratio
    for _ in range(4):
        await outcome(b, SALES, failed=True)
    for _ in range(8):
        with pytest.raises(CallerCircuitOpen):  # isolated: it never reaches the backend again
            await b.admit("search_customers", SALES)
    assert await b.state() is BreakerState.CLOSED
    assert await b.state(SALES) is BreakerState.OPEN


async def test_failures_age_out_of_the_callers_window(shared: SharedState) -> None:
    clock = Clock()
    b = breaker(shared, clock)
    for _ in range(4):
        await outcome(b, SUPPORT, failed=True)  # support fails alone first: isolated
    clock.now += 31  # its own circuit half-open; its failures older than the window
    await outcome(b, SUPPORT, failed=False)
    await outcome(b, SUPPORT, failed=False)  # two probes succeeded: closed
    for _ in range(4):
        await outcome(b, SALES, failed=True)
    assert await b.state() is BreakerState.CLOSED  # support's old failures no longer count
    assert await b.state(SALES) is BreakerState.OPEN


async def test_min_principals_1_is_one_circuit_for_all(shared: SharedState) -> None:
    clock = Clock()
    b = breaker(shared, clock, SETTINGS.model_copy(update={"min_principals": 1}))
    for _ in range(4):
        await outcome(b, SALES, failed=True)
    assert await b.state() is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        await b.admit("search_customers", SUPPORT)


async def test_memory_forgets_idle_callers() -> None:
    """Principals come and go: memory:// keeps no state for callers idle for two windows."""
    store = MemoryBreakers()
    now = 1_000.0
    for i in range(SWEEP_EVERY):
        await store.record_caller("crm", caller_key(f"bot-{i}"), now, False, 10)
    now += 21
    for _ in range(SWEEP_EVERY):
        await store.record_caller("crm", SALES, now, False, 10)
    assert len(store._breakers) <= 2  # the backend's own and sales'
