"""Prometheus metrics, on a registry per gateway (so several gateways can share a process).

Under `pasarela serve --workers N` every worker writes its values to files in
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, chosen when the module is
imported) and /metrics, whichever worker answers it, sums them across the workers.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from pasarela.config.observability import LATENCY_BUCKETS

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


OTHER_AGENTS = "other"


class AgentLabels:
    """Principal ids as the `agent` label, bounded: the first `limit` distinct principals seen get
    their own label, any later one is counted as `other` (principals from JWTs are unbounded)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._known: set[str] = set()

    def __call__(self, principal: str) -> str:
        if principal in self._known:
            return principal
        if len(self._known) < self.limit:
            self._known.add(principal)
            return principal
        return OTHER_AGENTS


class GatewayMetrics:
    def __init__(self, agent_labels: int = 50, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.agent = AgentLabels(agent_labels)
        self.calls = Counter(
            "pasarela_tool_calls",
            "Tool calls by tool, its backend, door and outcome (ok or the problem code)",
            ["tool", "backend", "door", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pasarela_tool_call_duration_seconds",
            "Time spent in the pipeline per tool call",
            ["tool", "backend", "door"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        self._traffic_metrics()
        self._resilience_metrics()
        self._job_metrics()
        self._agent_metrics()
        self._webhook_metrics()
        self._event_metrics()

    def _job_metrics(self) -> None:
        self.job_runs = Counter(
            "pasarela_job_runs",
            "Runs of jobs started (a retried job counts each run)",
            ["tool"],
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "pasarela_jobs_finished",
            "Jobs finished by tool and status (completed, failed, cancelled)",
            ["tool", "status"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "pasarela_job_run_duration_seconds",
            "Time each run of a job took",
            ["tool"],
            buckets=(0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0),
            registry=self.registry,
        )
        self.jobs_queued = Gauge(
            "pasarela_jobs_queued",
            "Jobs queued and due, in the durable store (seen by this process)",
            registry=self.registry,
            multiprocess_mode="mostrecent",  # every worker reads the same store
        )
        self.jobs_oldest_queued = Gauge(
            "pasarela_jobs_oldest_queued_age_seconds",
            "How long the oldest due job has waited",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )

    def _agent_metrics(self) -> None:
        self.agent_calls = Counter(
            "pasarela_agent_calls",
            "Calls agents made themselves (not on their behalf), by agent, door and outcome",
            ["agent", "door", "outcome"],
            registry=self.registry,
        )
        self.agent_latency = Histogram(
            "pasarela_agent_call_duration_seconds",
            "End-to-end time of the calls agents made themselves",
            ["agent"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.mcp_sessions = Counter(
            "pasarela_mcp_sessions_opened",
            "MCP sessions opened (handshake-era protocol), by agent: tools per session = calls / sessions",
            ["agent"],
            registry=self.registry,
        )
        self.cost = Counter(
            "pasarela_cost",
            "What calls cost (tools.<name>.cost / backends.<name>.cost), by backend, tool and currency",
            ["backend", "tool", "currency"],
            registry=self.registry,
        )
        self.agent_cost = Counter(
            "pasarela_agent_cost",
            "What each agent's calls cost, by currency",
            ["agent", "currency"],
            registry=self.registry,
        )
        self.budget_exceeded = Counter(
            "pasarela_budget_exceeded",
            "Calls made (warn) or refused (deny) past an agent's budget",
            ["agent", "action"],
            registry=self.registry,
        )

    def _traffic_metrics(self) -> None:
        self.rate_limited = Counter(
            "pasarela_rate_limited",
            "Calls refused by a rate limit",
            ["backend", "tool", "rule"],
            registry=self.registry,
        )
        self.limit_store_errors = Counter(
            "pasarela_rate_limit_store_errors",
            "Rate-limit checks that could not reach the shared store, by the policy applied",
            ["rule", "policy"],
            registry=self.registry,
        )
        self.quota_exceeded = Counter(
            "pasarela_quota_exceeded",
            "Calls refused because a quota is exhausted",
            ["backend", "tool", "rule"],
            registry=self.registry,
        )
        self.cache = Counter(
            "pasarela_cache_lookups",
            "Cache lookups by result (hit, miss, stale, bypass, error)",
            ["backend", "tool", "result"],
            registry=self.registry,
        )
        self.contract_violations = Counter(
            "pasarela_contract_violations",
            "Results that broke their tool's declared output schema",
            ["backend", "tool", "schema"],
            registry=self.registry,
        )
        self.idempotent_replays = Counter(
            "pasarela_idempotent_replays",
            "Calls answered from the first outcome of their idempotency key",
            ["tool"],
            registry=self.registry,
        )

    def _resilience_metrics(self) -> None:
        self.retries = Counter(
            "pasarela_upstream_retries",
            "Retried upstream attempts",
            ["backend", "tool"],
            registry=self.registry,
        )
        self.retry_budget_exhausted = Counter(
            "pasarela_retry_budget_exhausted",
            "Retries not made because the backend's retry budget was spent",
            ["backend"],
            registry=self.registry,
        )
        self.breaker_state = Gauge(
            "pasarela_circuit_breaker_state",
            "Circuit breaker state as last seen by this replica: 0 closed, 1 open, 2 half-open",
            ["backend"],
            registry=self.registry,
            multiprocess_mode="livemostrecent",  # the latest any live worker saw
        )
        self.breaker_transitions = Counter(
            "pasarela_circuit_breaker_transitions",
            "Circuit breaker transitions made by this replica",
            ["backend", "to"],
            registry=self.registry,
        )
        self.caller_breaker_transitions = Counter(
            "pasarela_caller_circuit_transitions",
            "Transitions of one principal's own circuit on a backend (isolated while others pass)",
            ["backend", "to"],
            registry=self.registry,
        )
        self.caller_breaker_rejections = Counter(
            "pasarela_caller_circuit_rejections",
            "Calls refused because the caller's own circuit on the backend was open",
            ["backend", "tool"],
            registry=self.registry,
        )
        self.breaker_rejections = Counter(
            "pasarela_circuit_breaker_rejections",
            "Calls failed fast because the backend's circuit was open",
            ["backend", "tool"],
            registry=self.registry,
        )
        self.bulkhead_rejections = Counter(
            "pasarela_bulkhead_rejections",
            "Calls refused because the backend's concurrency limit stayed full",
            ["backend", "tool"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "pasarela_upstream_in_flight",
            "Calls in flight to each backend from this replica",
            ["backend"],
            registry=self.registry,
            multiprocess_mode="livesum",  # the replica's workers together
        )
        self.fallbacks = Counter(
            "pasarela_fallbacks",
            "Failed calls answered by a fallback (cache or another tool)",
            ["backend", "tool", "fallback"],
            registry=self.registry,
        )

        self.mcp_forwarded = Counter(
            "pasarela_mcp_forwarded_requests",
            "Requests of a handshake-era MCP session passed to the worker that holds it",
            registry=self.registry,
        )

    def session_opened(self, principal: str) -> None:
        self.mcp_sessions.labels(self.agent(principal)).inc()

    def _webhook_metrics(self) -> None:
        # Labelled by configured endpoint name only: bounded, whatever agents or receivers do.
        self.webhook_deliveries = Counter(
            "pasarela_webhook_deliveries",
            "Webhook attempts by endpoint and what they led to: delivered, retrying, failed (schedule "
            "spent), disabled (410 Gone)",
            ["endpoint", "outcome"],
            registry=self.registry,
        )
        self.webhook_attempt_latency = Histogram(
            "pasarela_webhook_attempt_duration_seconds",
            "Time from sending a webhook to its answer (or timeout)",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.webhook_outbox_depth = Gauge(
            "pasarela_webhook_outbox_depth",
            "Deliveries waiting in the outbox (pending or held by a disabled endpoint)",
            ["endpoint"],
            registry=self.registry,
            multiprocess_mode="livemostrecent",  # every worker reads the same outbox
        )
        self.webhook_oldest_pending_age = Gauge(
            "pasarela_webhook_oldest_pending_age_seconds",
            "Age of the oldest delivery waiting in the outbox (0 when none waits)",
            ["endpoint"],
            registry=self.registry,
            multiprocess_mode="livemostrecent",
        )

    def _event_metrics(self) -> None:
        # Labelled by configured source names, fixed outcomes, doors and tool names: bounded.
        self.events_ingested = Counter(
            "pasarela_events_ingested",
            "Events received by source and what became of them: stored, duplicate (stored before), refused",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.events_delivered = Counter(
            "pasarela_events_delivered",
            "Events handed to subscribers, by way out (rest, sse, webhook)",
            ["door"],
            registry=self.registry,
        )
        self.event_delivery_lag = Histogram(
            "pasarela_event_delivery_lag_seconds",
            "Time from an event being stored to its delivery to a subscriber (or its webhook queued)",
            ["door"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events_invalidated = Counter(
            "pasarela_events_cache_invalidated",
            "Cached results dropped because an event made them stale, by tool",
            ["tool"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        directory = os.environ.get(MULTIPROC_ENV)
        if directory:  # every worker's values, not just this one's
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
