"""The breaker's state machine with time under the test's control, on memory:// and redis://."""

from __future__ import annotations

import pytest

from pasarela.config.traffic import CircuitBreakerSettings
from pasarela.errors import CircuitOpen
from pasarela.resilience import BreakerState, CircuitBreaker
from pasarela.shared import SharedState
from pasarela.telemetry import GatewayMetrics

pytestmark = pytest.mark.anyio

SETTINGS = CircuitBreakerSettings(failure_ratio=0.5, min_calls=4, window=10, open_for=30, half_open_calls=2)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def breaker(shared: SharedState, clock: Clock, settings: CircuitBreakerSettings = SETTINGS) -> CircuitBreaker:
    return CircuitBreaker("crm", settings, shared.breakers, GatewayMetrics(), clock=clock)


async def outcome(b: CircuitBreaker, *, failed: bool, duration: float = 0.01) -> None:
    permit = await b.admit("get_customer")
    await b.record(permit, failed=failed, duration=duration)


async def test_full_cycle_closed_open_half_open_closed_and_open_again(shared: SharedState) -> None:
    clock = Clock()
    b = breaker(shared, clock)
    # Closed: failures below min_calls never open it, whatever the ratio.
    for _ in range(3):
        await outcome(b, failed=True)
    assert await b.state() is BreakerState.CLOSED
    await outcome(b, failed=True)  # 4 calls, 4 failures
    assert await b.state() is BreakerState.OPEN

    # Open: calls fail at once, saying when to come back.
    clock.now += 10
    with pytest.raises(CircuitOpen) as refused:
        await b.admit("get_customer")
    assert refused.value.status == 503 and refused.value.retry_after == pytest.approx(20)

    # Half-open after open_for: exactly half_open_calls probes pass, others are refused.
    clock.now += 20
    assert await b.state() is BreakerState.HALF_OPEN
    first = await b.admit("get_customer")
    second = await b.admit("get_customer")
    assert first.probe and second.probe
    with pytest.raises(CircuitOpen):
        await b.admit("get_customer")
    await b.record(first, failed=False, duration=0.01)
    assert await b.state() is BreakerState.HALF_OPEN  # one success is not enough
    await b.record(second, failed=False, duration=0.01)
    assert await b.state() is BreakerState.CLOSED

    # The window was forgotten on closing: it takes min_calls new outcomes to open again.
    for _ in range(3):
        await outcome(b, failed=True)
    assert await b.state() is BreakerState.CLOSED
    await outcome(b, failed=True)
    assert await b.state() is BreakerState.OPEN


async def test_a_failed_probe_reopens_for_a_full_period(shared: SharedState) -> None:
    clock = Clock()
    b = breaker(shared, clock)
    for _ in range(4):
        await outcome(b, failed=True)
    clock.now += 31
    probe = await b.admit("get_customer")
    await b.record(probe, failed=True, duration=0.01)
    assert await b.state() is BreakerState.OPEN
    clock.now += 29
    assert await b.state() is BreakerState.OPEN
    clock.now += 2
    assert await b.state() is BreakerState.HALF_OPEN


async def test_the_ratio_is_over_the_sliding_window(shared: SharedState) -> None:
    clock = Clock()
    b = breaker(shared, clock)
    for _ in range(2):
        await outcome(b, failed=False)
    await outcome(b, failed=True)
    await outcome(b, failed=False)
    await outcome(b, failed=True)  # 2 of 5 failed: below 0.5
    assert await b.state() is BreakerState.CLOSED
    clock.now += 11  # all of that ages out of the 10 s window
    await outcome(b, failed=True)
    await outcome(b, failed=True)
    await outcome(b, failed=False)
    assert await b.state() is BreakerState.CLOSED  # 3 calls < min_calls
    await outcome(b, failed=True)  # 3 of 4 failed
    assert await b.state() is BreakerState.OPEN


async def test_slow_calls_count_as_failures_when_configured(shared: SharedState) -> None:
    clock = Clock()
    settings = SETTINGS.model_copy(update={"slow_call": 0.5})
    b = breaker(shared, clock, settings)
    for _ in range(4):
        await outcome(b, failed=False, duration=0.8)
    assert await b.state() is BreakerState.OPEN


async def test_a_disabled_breaker_never_opens(shared: SharedState) -> None:
    clock = Clock()
    b = breaker(shared, clock, SETTINGS.model_copy(update={"enabled": False}))
    for _ in range(10):
        await outcome(b, failed=True)
    await b.admit("get_customer")


async def test_two_breakers_on_one_store_agree(shared: SharedState) -> None:
    """What replicas sharing Redis rely on: one trips, the other refuses."""
    clock = Clock()
    one, other = breaker(shared, clock), breaker(shared, clock)
    for _ in range(2):
        await outcome(one, failed=True)
        await outcome(other, failed=True)
    with pytest.raises(CircuitOpen):
        await other.admit("get_customer")


async def test_a_replica_trusts_what_it_read_for_the_sync_interval(shared: SharedState) -> None:
    clock = Clock()
    metrics = GatewayMetrics()
    one = CircuitBreaker("crm", SETTINGS, shared.breakers, metrics, clock=clock, sync_interval=0.1)
    other = CircuitBreaker("crm", SETTINGS, shared.breakers, metrics, clock=clock, sync_interval=0.1)
    await other.admit("get_customer")  # reads "closed"
    for _ in range(4):
        await outcome(one, failed=True)
    with pytest.raises(CircuitOpen):
        await one.admit("get_customer")  # the one that tripped it knows at once
    await other.admit("get_customer")  # still within the interval: not asked again
    clock.now += 0.11
    with pytest.raises(CircuitOpen):
        await other.admit("get_customer")
