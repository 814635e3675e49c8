"""The resilience stage: bulkhead → circuit breaker → retry → timeout, around each upstream call.

The timeout itself is the connector's (per backend, overridden per tool); this stage decides
whether and when to try again, and when not to try at all.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from pasarela.errors import PasarelaError, Throttled, UpstreamError
from pasarela.pipeline.call import Call, CallTracer, Next, Outcome
from pasarela.pipeline.relay import notice
from pasarela.resilience.breaker import CircuitBreaker, caller_key
from pasarela.resilience.bulkhead import Bulkhead
from pasarela.resilience.retry import Retrier
from pasarela.telemetry.metrics import GatewayMetrics


@dataclass(frozen=True, slots=True)
class BackendGuard:
    bulkhead: Bulkhead
    breaker: CircuitBreaker
    retrier: Retrier


def counts_against_backend(exc: UpstreamError) -> bool:
    """Failures that say the backend is unwell (not that the request was wrong)."""
    if exc.request_refused:
        return False
    status = exc.upstream_status
    return status is None or status >= 500 or status == 429


class ResilienceStage:
    name = "resilience"

    def __init__(
        self, guards: Mapping[str, BackendGuard], metrics: GatewayMetrics, tracer: CallTracer | None = None
    ) -> None:
        self._guards = dict(guards)
        self._metrics = metrics
        self._tracer = tracer  # with tracing on, each attempt is a span of its own

    @property
    def guards(self) -> Mapping[str, BackendGuard]:
        """Each backend's bulkhead, breaker and retrier (the console shows their state)."""
        return self._guards

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        guard = self._guards.get(call.tool.backend)
        if guard is None:
            return await call_next(call)
        backend, tool = call.tool.backend, call.tool.name
        in_flight = self._metrics.in_flight.labels(backend)
        try:
            async with guard.bulkhead.slot(call.principal.id):
                in_flight.inc()
                try:
                    return await self._guarded(guard, call, call_next)
                finally:
                    in_flight.dec()
        except Throttled:
            self._metrics.bulkhead_rejections.labels(backend, tool).inc()
            raise

    async def _guarded(self, guard: BackendGuard, call: Call, call_next: Next) -> Outcome:
        backend, tool = call.tool.backend, call.tool.name
        permit = await guard.breaker.admit(tool, caller_key(call.principal.id))
        started = time.perf_counter()
        failed = True  # anything but a clean answer or a client error (incl. cancellation of a probe)
        try:
            outcome = await guard.retrier.run(
                (lambda: call_next(call)) if self._tracer is None else self._traced(call, call_next),
                retryable=call.tool.annotations.idempotent or call.idempotency_key is not None,
                # Lazy: looking a labelled child up costs microseconds on every call otherwise.
                on_retry=lambda failure: self._retrying(call, failure),
                on_budget_exhausted=lambda: self._metrics.retry_budget_exhausted.labels(backend).inc(),
            )
            failed = False
            return outcome
        except UpstreamError as exc:
            failed = counts_against_backend(exc)
            raise
        except PasarelaError as exc:  # e.g. a Python tool refusing its arguments: not the backend's fault
            failed = exc.status >= 500
            raise
        finally:
            await guard.breaker.record(permit, failed=failed, duration=time.perf_counter() - started)

    def _retrying(self, call: Call, failure: Exception) -> None:
        self._metrics.retries.labels(call.tool.backend, call.tool.name).inc()
        notice(
            "notice", f"{call.tool.backend} failed ({_what_failed(failure)}); trying {call.tool.name} again"
        )

    def _traced(self, call: Call, call_next: Next) -> Callable[[], Awaitable[Outcome]]:
        tracer = self._tracer
        assert tracer is not None
        attempts = 0

        async def attempt() -> Outcome:
            nonlocal attempts
            attempts += 1
            async with tracer.around_attempt(call, attempts):
                return await call_next(call)

        return attempt


def _what_failed(failure: Exception) -> str:
    """e.g. "HTTP 503", "upstream_timeout": how a failure is named in a notice."""
    status = getattr(failure, "upstream_status", None)
    if status is not None:
        return f"HTTP {status}"
    return getattr(failure, "code", type(failure).__name__)
