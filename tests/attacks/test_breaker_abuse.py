"""Attacks on "one agent cannot open the breaker for everyone", with time under the test's
control, on memory:// and redis:// (the `shared` fixture)."""

from __future__ import annotations

import contextlib

import pytest

from pasarela.errors import CallerCircuitOpen
from pasarela.resilience import BreakerState
from pasarela.shared import SharedState
from tests.resilience.test_breaker_callers import SALES, SETTINGS, SUPPORT, Clock, breaker, outcome

pytestmark = pytest.mark.anyio


async def test_an_isolated_agent_cannot_hijack_the_half_open_probes(shared: SharedState) -> None:
    """After a real outage the backend's circuit is half-open: the hostile agent grabs the probes
    with inputs the backend rejects, and each failed probe would reopen it for everyone."""
    clock = Clock()
    b = breaker(shared, clock)
    for _ in range(2):  # a real outage: both agents fail, the circuit opens for everyone
        await outcome(b, SALES, failed=True)
        await outcome(b, SUPPORT, failed=True)
    assert await b.state() is BreakerState.OPEN
    clock.now += SETTINGS.open_for  # the backend has recovered; the circuit is half-open
    for _ in range(SETTINGS.half_open_calls * 3):
        with contextlib.suppress(CallerCircuitOpen):
            await outcome(b, SALES, failed=True)  # sales keeps sending what the backend rejects
    # Support's calls still reach the (healthy) backend and close the circuit.
    for _ in range(SETTINGS.half_open_calls):
        await outcome(b, SUPPORT, failed=False)
    assert await b.state() is BreakerState.CLOSED
    assert await b.state(SALES) is BreakerState.OPEN


async def test_one_honest_failure_does_not_join_an_isolated_agent_to_open_it_for_all(
    shared: SharedState,
) -> None:
    """The hostile agent gets itself isolated; then any other agent's single failure (a mistyped
    account number that the SOAP backend answers with a 500 fault) would open it for everyone."""
    clock = Clock()
    b = breaker(shared, clock)
    for _ in range(SETTINGS.min_calls):
        await outcome(b, SALES, failed=True)
    assert await b.state(SALES) is BreakerState.OPEN
    await outcome(b, SUPPORT, failed=True)  # one mistake
    assert await b.state() is BreakerState.CLOSED
    await outcome(b, SUPPORT, failed=False)
