"""Observability settings: `telemetry:` (tracing, metric labels), `slo:` and `cost:` per backend
or tool, and `budgets:` per agent."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from pasarela.config.base import Strict
from pasarela.config.durations import Duration

# Latency objectives are counted from the call-duration histogram, so a threshold must be one
# of its bucket bounds (seconds): the count under it is then exact, not interpolated.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class TracingSettings(Strict):
    """OpenTelemetry traces, exported over OTLP (needs `pip install 'pasarela[otel]'`)."""

    exporter: Literal["otlp_http", "otlp_grpc", "none"] = Field(
        "otlp_http",
        description="otlp_http (HTTP/protobuf), otlp_grpc, or none (trace ids and propagation only)",
    )
    endpoint: str | None = Field(
        None,
        description="Where spans go; default http://127.0.0.1:4318/v1/traces (otlp_http) or "
        "http://127.0.0.1:4317 (otlp_grpc)",
    )
    sampling: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of new traces recorded (0..1); a call whose agent sent a traceparent follows "
        "the agent's sampling decision (parent-based)",
    )
    headers: dict[str, SecretStr] = Field(
        {}, description="Sent with every export, e.g. {Authorization: '${secret:OTLP_TOKEN}'}"
    )
    service_name: str = Field("pasarela", description="The service.name resource attribute")
    timeout: Duration = Field(10.0, gt=0, description="Each export gives up after this long")

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value


class TelemetrySettings(Strict):
    tracing: TracingSettings | None = Field(None, description="Traces (absent: off, at no cost)")
    agent_labels: int = Field(
        50,
        ge=0,
        le=1000,
        description="Distinct principals that get their own `agent` label in metrics; later ones are "
        "counted as `other`, so the label set stays bounded",
    )


class LatencyObjective(Strict):
    percentile: float = Field(95.0, gt=0, lt=100, description="e.g. 95: 95 % of calls are faster than …")
    threshold: Duration = Field(description=f"… this; one of {', '.join(f'{b:g}s' for b in LATENCY_BUCKETS)}")

    @field_validator("threshold")
    @classmethod
    def _bucket(cls, value: float) -> float:
        if not any(abs(value - bound) < 1e-9 for bound in LATENCY_BUCKETS):
            bounds = ", ".join(f"{b * 1000:g}ms" for b in LATENCY_BUCKETS)
            raise ValueError(
                f"{value * 1000:g}ms is not a bound of the latency histogram; choose one of {bounds}"
            )
        return value


class SloSettings(Strict):
    """Service level objectives of a backend or a tool, over a rolling window."""

    availability: float | None = Field(
        None, gt=0, lt=100, description="Percent of calls not failed by the gateway or backend (5xx)"
    )
    latency: LatencyObjective | None = Field(None, description="A latency percentile under a threshold")
    error_rate: float | None = Field(
        None, gt=0, lt=100, description="At most this percent of all calls end in a 5xx problem"
    )
    window: Duration = Field(30 * 86400.0, description="The rolling window the error budget covers (7d–90d)")

    @field_validator("window")
    @classmethod
    def _window(cls, value: float) -> float:
        if not 7 * 86400 <= value <= 90 * 86400:
            raise ValueError("expected a window from 7d to 90d (the burn-rate alerts look back up to 3d)")
        return value

    @model_validator(mode="after")
    def _some_objective(self) -> Self:
        if self.availability is None and self.latency is None and self.error_rate is None:
            raise ValueError("expected at least one objective: availability, latency or error_rate")
        return self


class CostSettings(Strict):
    """What a call costs when its backend answers (a cache hit or a refused call costs nothing)."""

    per_call: float = Field(0.0, ge=0, description="Charged for every answered call")
    per_unit: float = Field(0.0, ge=0, description="Charged per unit counted by `units`")
    units: str | None = Field(
        None, description="JMESPath over the backend's answer giving a number, e.g. length(rows)"
    )
    per_second: float = Field(0.0, ge=0, description="Charged per second of backend time")
    currency: str = Field("USD", description="ISO 4217 code, e.g. EUR")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not _CURRENCY.match(value):
            raise ValueError(f"expected an ISO 4217 currency code such as EUR or USD, got {value!r}")
        return value

    @model_validator(mode="after")
    def _units_with_price(self) -> Self:
        if self.per_unit and not self.units:
            raise ValueError("per_unit needs `units`: a JMESPath counting units in the answer")
        return self


class BudgetRule(Strict):
    """A spending limit per agent: each matching principal has its own."""

    principals: list[str] = Field([], description="Principal ids it applies to")
    roles: list[str] = Field([], description="... or principals holding any of these roles (empty: everyone)")
    limit: float = Field(gt=0, description="Spend allowed per period, in `currency`")
    currency: str = Field("USD", description="Only costs in this currency count")
    per: Literal["day", "month"] = Field(description="The budget resets at the start of each UTC day/month")
    action: Literal["warn", "deny"] = Field(
        "warn", description="warn: serve and say so in meta; deny: refuse with 429 budget_exceeded"
    )

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return CostSettings._currency(value)
