"""The telemetry stage: one log line, one counter and one latency sample per call."""

from __future__ import annotations

import time

import structlog

from pasarela.errors import PasarelaError
from pasarela.pipeline.call import Call, Next, Outcome, Via
from pasarela.telemetry.metrics import GatewayMetrics

log = structlog.get_logger("pasarela.call")


class TelemetryStage:
    name = "telemetry"

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def traced(self, call: Call) -> bool:
        return False  # the call's own span is its telemetry

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        started = time.perf_counter()
        outcome = "internal"
        status: int | None = None
        try:
            result = await call_next(call)
            outcome = "ok"
            status = result.upstream_status
            return result
        except PasarelaError as exc:
            outcome = exc.code
            status = getattr(exc, "upstream_status", None)
            raise
        finally:
            elapsed = time.perf_counter() - started
            metrics = self.metrics
            metrics.calls.labels(call.tool.name, call.tool.backend, call.door, outcome).inc()
            metrics.latency.labels(call.tool.name, call.tool.backend, call.door).observe(elapsed)
            if call.via is Via.AGENT:
                agent = metrics.agent(call.principal.id)
                metrics.agent_calls.labels(agent, call.door, outcome).inc()
                metrics.agent_latency.labels(agent).observe(elapsed)
            # Arguments are not logged: they may hold personal data (the audit trail masks them).
            log.info(
                "tool_call",
                request_id=call.request_id,
                principal=call.principal.id,
                on_behalf_of=call.principal.on_behalf_of.id if call.principal.on_behalf_of else None,
                tool=call.tool.name,
                backend=call.tool.backend,
                door=call.door,
                outcome=outcome,
                upstream_status=status,
                duration_ms=round(elapsed * 1000, 3),
            )
