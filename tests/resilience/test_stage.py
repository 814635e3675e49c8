"""What the resilience stage counts against a backend, with a terminal under the test's control."""

from __future__ import annotations

import pytest

from pasarela.catalog import ToolSpec
from pasarela.config.traffic import CircuitBreakerSettings, RetrySettings
from pasarela.errors import InvalidArguments, PasarelaError, UpstreamError
from pasarela.identity import Principal
from pasarela.pipeline.call import Call, Door, Outcome
from pasarela.resilience import BackendGuard, BreakerState, Bulkhead, CircuitBreaker, ResilienceStage, Retrier
from pasarela.shared import open_shared
from pasarela.telemetry import GatewayMetrics

pytestmark = pytest.mark.anyio

TOOL = ToolSpec("classify", "", {"type": "object"}, "py", "classify")
CALLS = [Call(Principal("bot"), TOOL, {}, Door.REST, "r"), Call(Principal("bot2"), TOOL, {}, Door.REST, "r")]


async def run_many(error: PasarelaError) -> BreakerState:
    shared = await open_shared("memory://")
    metrics = GatewayMetrics()
    breaker = CircuitBreaker("py", CircuitBreakerSettings(min_calls=2), shared.breakers, metrics)
    stage = ResilienceStage(
        {"py": BackendGuard(Bulkhead("py", 5, 1), breaker, Retrier(RetrySettings()))}, metrics
    )

    async def terminal(call: Call) -> Outcome:
        raise error

    for i in range(5):  # two principals: a failing backend, not one caller's inputs
        with pytest.raises(PasarelaError):
            await stage(CALLS[i % 2], terminal)
    return await breaker.state()


async def test_a_tool_refusing_its_arguments_is_not_a_backend_failure() -> None:
    assert await run_many(InvalidArguments("level must be low or high")) is BreakerState.CLOSED


async def test_a_backend_answering_4xx_is_not_a_failure() -> None:
    assert (
        await run_many(UpstreamError("no such item", backend="py", upstream_status=404))
        is BreakerState.CLOSED
    )


async def test_a_crashing_tool_is_a_failure() -> None:
    assert await run_many(PasarelaError("the gateway failed while calling 'py'")) is BreakerState.OPEN
