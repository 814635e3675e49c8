"""What flows through the pipeline: a Call in, an Outcome out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pasarela.catalog.spec import ToolSpec
from pasarela.connectors.base import SpanTarget
from pasarela.identity.principal import Principal


class Door(StrEnum):
    """How the agent reached the gateway (`context.door` in policies). A closed set."""

    MCP = "mcp"  # MCP over Streamable HTTP
    STDIO = "stdio"  # MCP over stdin/stdout
    REST = "rest"
    CLI = "cli"


class Via(StrEnum):
    """Who made this call: the agent itself, or the gateway on the agent's behalf."""

    AGENT = "agent"
    FALLBACK = "fallback"
    COMPOSITE = "composite"  # a step of a composite tool
    JOB = "job"  # a durable job running later


@dataclass(frozen=True, slots=True)
class Call:
    """One tool call by one principal through one door.

    A child call (a fallback, a composite step, a job) keeps its parent's principal and door,
    names its parent, is one level deeper, and shares its parent's deadline.
    """

    principal: Principal
    tool: ToolSpec
    arguments: Mapping[str, Any]
    door: Door
    request_id: str
    # Stripe-style: the client's key for this write; retries with the same key replay its outcome.
    idempotency_key: str | None = None
    via: Via = Via.AGENT
    parent_id: str | None = None
    depth: int = 0
    deadline: float | None = None  # time.monotonic() by which the whole call must be answered
    # The key the backend sees (`Idempotency-Key`), so a repeated attempt applies its effect once:
    # a job's own (stable across its attempts); else derived from `idempotency_key` when given.
    effect_key: str | None = None
    timeout: float | None = None  # how long the backend may take (a job's), over the tool's own
    progress: Progress | None = None  # where the tool's progress reports go (a job, an MCP client)


# (fraction done 0..1 or None, a message or None): told to whoever waits for the call.
Progress = Callable[[float | None, str | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A successful result and what the gateway knows about how it was obtained.

    Stages tell each other things through the typed fields, never through keys of `meta`;
    `meta` holds what only agents read (a warning, `as_of`, GraphQL errors…). `public_meta()`
    is the one view agents get of both.
    """

    result: Any
    meta: Mapping[str, Any] = field(default_factory=dict)
    upstream_status: int | None = None  # the backend's HTTP status, when there was one
    source: str | None = None  # who answered: a backend's name, or "cache"
    cache: str | None = None  # hit | miss | stale | bypass
    fallback: str | None = None  # what answered in the tool's place: "cache" or another tool

    def with_meta(self, **entries: Any) -> Outcome:
        return replace(self, meta={**self.meta, **entries})

    def public_meta(self) -> dict[str, Any]:
        shown = dict(self.meta)
        for name in ("upstream_status", "source", "cache", "fallback"):
            value = getattr(self, name)
            if value is not None:
                shown[name] = value
        return shown


def iso(moment: float) -> str:
    """ISO 8601 in UTC, to the millisecond: how `meta.as_of` is written everywhere."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Next = Callable[[Call], Awaitable[Outcome]]


class Stage(Protocol):
    """One step of the pipeline. It may act before and after `call_next`, or not call it.

    A stage may also define `traced(call) -> bool`: False for a call it only passes on, which
    then gets no span of its own (the StageObserver is not told of it).
    """

    name: str  # in logs, per-stage timings and (later) trace spans

    async def __call__(self, call: Call, call_next: Next) -> Outcome: ...


class StageObserver(Protocol):
    """The chain's one instrumentation point: wraps every stage of every call when configured.

    Per-stage timings and trace spans attach here; with none configured the chain pays nothing.
    """

    def around(self, stage: str, call: Call) -> AbstractAsyncContextManager[None]: ...


class BackendTrace(Protocol):
    """The backend call's span, as the gateway sees it: what to send along, and the answer's status."""

    @property
    def headers(self) -> Mapping[str, str]:
        """W3C traceparent/tracestate for the backend."""
        ...

    def answered(self, status: int | None) -> None: ...


class CallTracer(StageObserver, Protocol):
    """A StageObserver that also sees each whole call, each resilience attempt and each backend
    call (telemetry/spans.py). None when tracing is off: then none of this costs anything."""

    def around_call(self, call: Call) -> AbstractAsyncContextManager[None]: ...

    def around_attempt(self, call: Call, number: int) -> AbstractAsyncContextManager[None]: ...

    def around_backend(self, call: Call, target: SpanTarget) -> AbstractAsyncContextManager[BackendTrace]: ...

    def around_job(
        self, tool: str, run_id: str, attempt: int, started_by: str | None
    ) -> AbstractAsyncContextManager[None]: ...

    def traceparent(self) -> str | None:
        """The current trace context as a W3C `traceparent` (kept for work that runs later)."""
        ...
