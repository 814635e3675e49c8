"""Traffic control and resilience settings: limits, quotas, caching, retries, breakers."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from limits import parse_many
from pydantic import Field, field_validator, model_validator

from pasarela.config.base import Strict
from pasarela.config.durations import Duration

KeyDimension = Literal["principal", "role", "tool", "backend"]


def check_rate(value: str) -> str:
    """A rate in the `limits` notation: '100/minute', '10 per second', '5/2 seconds'."""
    try:
        parsed = parse_many(value)
    except ValueError:
        parsed = []
    if len(parsed) != 1:
        raise ValueError(f"expected one rate such as '100/minute' or '10/second', got {value!r}")
    return value


class RetrySettings(Strict):
    """Retries of idempotent calls on retryable failures, with exponential backoff and jitter."""

    attempts: int = Field(3, ge=1, le=10, description="Total attempts, the first included (1 = never retry)")
    wait_initial: Duration = Field(0.1, description="Backoff before the first retry")
    wait_max: Duration = Field(2.0, description="Backoff never exceeds this")
    wait_jitter: Duration = Field(0.1, description="Up to this much random jitter is added to each wait")
    max_time: Duration = Field(30.0, description="No retry starts after this long since the first attempt")
    budget_ratio: float = Field(
        0.2, ge=0, le=1, description="Retries may add at most this share of the calls in the window"
    )
    budget_min: int = Field(10, ge=0, description="Retries always allowed per window, whatever the ratio")
    budget_window: Duration = Field(10.0, description="The window the retry budget is counted over")


class CircuitBreakerSettings(Strict):
    """Stop calling a failing backend for a while, then probe it."""

    enabled: bool = True
    failure_ratio: float = Field(0.5, gt=0, le=1, description="Open when this share of calls fails")
    min_calls: int = Field(20, ge=1, description="... over at least this many calls in the window")
    window: Duration = Field(30.0, description="The sliding window the ratio is measured over")
    open_for: Duration = Field(30.0, description="Calls fail fast for this long, then probes are let through")
    half_open_calls: int = Field(3, ge=1, description="Probe calls that must all succeed to close again")
    slow_call: Duration | None = Field(None, description="Calls slower than this count as failures")
    min_principals: int = Field(
        2,
        ge=1,
        description="Open for everyone only when this many principals' calls are failing; a principal "
        "failing alone gets its own circuit (1 = one circuit for all, no isolation)",
    )


class InvalidateOn(Strict):
    """An event that makes cached results of this tool stale."""

    event: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.*?-]{1,200}$")] = Field(
        description="The event type (globs allowed: customer_*)"
    )
    arguments: dict[str, str] = Field(
        {},
        description="Tool argument: JMESPath over the event ({type, subject, source, id, time, data}) "
        "naming its value, e.g. {customer_id: data.customer_id}; the results for those argument "
        "values are dropped for every principal. Empty: every cached result of the tool",
    )

    @field_validator("arguments")
    @classmethod
    def _expressions(cls, value: dict[str, str]) -> dict[str, str]:
        import jmespath
        from jmespath.exceptions import JMESPathError

        for name, expression in value.items():
            try:
                jmespath.compile(expression)
            except JMESPathError as exc:
                raise ValueError(f"{name}: not a valid JMESPath expression: {exc}") from None
        return value


class CacheSettings(Strict):
    """Results of a read-only tool, kept per identity unless declared otherwise."""

    ttl: Duration = Field(description="How long a result is served from the cache; 0 = never cache")
    scope: Literal["principal", "tenant", "shared"] = Field(
        "principal",
        description="principal: per agent (and end user); tenant: per value of tenant_attribute; shared: everyone",
    )
    tenant_attribute: str = Field(
        "tenant", description="Principal attribute naming the tenant (scope: tenant)"
    )
    stale_for: Duration = Field(
        3600.0, description="How long past its ttl a result is kept for `fallback: [cache]`"
    )

    invalidate_on: list[InvalidateOn] = Field(
        [], description="Events that drop the cached results they make stale (docs/events.md#freshness)"
    )

    @model_validator(mode="after")
    def _same_partition(self) -> Self:
        keys = {tuple(sorted(rule.arguments)) for rule in self.invalidate_on}
        if len(keys) > 1:
            raise ValueError(
                "every invalidate_on rule of a tool must name the same arguments (they decide how its "
                f"cached results are grouped); found {sorted(keys)}"
            )
        return self

    @model_validator(mode="after")
    def _never_stale_when_never_cached(self) -> Self:
        if self.ttl == 0 and "stale_for" in self.model_fields_set and self.stale_for > 0:
            raise ValueError("ttl: 0 means never cache, so stale_for cannot keep anything")
        return self


class _Match(Strict):
    """Which calls a rule applies to; an empty list matches anything."""

    principals: list[str] = Field([], description="Principal ids the rule applies to")
    roles: list[str] = Field([], description="... or principals holding any of these roles")
    tools: list[str] = Field([], description="Tools the rule applies to")
    backends: list[str] = Field([], description="... or every tool of these backends")
    key: list[KeyDimension] = Field(
        ["principal"],
        description="What gets its own counter: e.g. [principal, tool]; [] = one counter for all matching calls",
    )


class RateLimitRule(_Match):
    limit: str = Field(description="e.g. 100/minute")
    on_store_error: Literal["allow", "deny"] | None = Field(
        None, description="When shared storage is unreachable; default: allow reads, deny writes"
    )

    @field_validator("limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        return check_rate(value)


class QuotaRule(_Match):
    limit: int = Field(gt=0, description="Calls allowed per period")
    per: Literal["day", "month"] = Field(description="The budget resets at the start of each UTC day/month")


class IdempotencySettings(Strict):
    ttl: Duration = Field(86400.0, description="How long a key's first outcome is kept for replay")
    abandon_after: Duration = Field(
        300.0, description="A first call still unfinished after this long (a crashed replica) frees its key"
    )


class CacheStoreSettings(Strict):
    max_entries: int = Field(10_000, gt=0, description="memory:// only: least recently used entries go first")


class McpSessionSettings(Strict):
    """MCP sessions (Streamable HTTP): no principal may take the table from the others."""

    max: int = Field(10_000, gt=0, description="Open sessions on this replica, all principals together")
    per_principal: int = Field(
        100,
        gt=0,
        description="Open sessions per principal; at the cap its least recently used idle session is closed",
    )
    open_rate: str = Field(
        "60/minute", description="New sessions per principal (429 with Retry-After beyond)"
    )
    idle_timeout: Duration = Field(
        600.0, gt=0, description="A session with no request in flight for this long is closed"
    )
    resume_events: int = Field(
        64,
        ge=0,
        le=10_000,
        description="Recent stream events kept per session, so a client whose stream dropped resumes "
        "with Last-Event-ID (SEP-1699); 0 turns resumable streams off",
    )

    @field_validator("open_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        return check_rate(value)

    @model_validator(mode="after")
    def _per_principal_below_max(self) -> Self:
        if self.per_principal > self.max:
            raise ValueError(f"per_principal ({self.per_principal}) cannot exceed max ({self.max})")
        return self
