"""Prometheus metrics, on a registry per gateway (so several gateways can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.calls = Counter(
            "pasarela_tool_calls",
            "Tool calls by tool, door and outcome (ok or the problem code)",
            ["tool", "door", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pasarela_tool_call_duration_seconds",
            "Time spent in the pipeline per tool call",
            ["tool", "door"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
