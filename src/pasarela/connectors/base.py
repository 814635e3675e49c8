"""The connector contract: load a backend's tools, invoke one operation.

A connector knows nothing about principals, policies, caches or limits. It receives
validated arguments and answers with data or an `UpstreamError` subclass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pasarela.catalog.spec import ToolSpec
from pasarela.connectors.asynchronous import FollowPlan


@dataclass(frozen=True, slots=True)
class UpstreamResult:
    data: Any
    status: int | None = None
    # What the agent should know about how the data came back (e.g. GraphQL partial data).
    meta: Mapping[str, Any] = field(default_factory=dict)
    # When the backend says the data was current (its `Date`), and last changed (`Last-Modified`):
    # seconds since the epoch, None when it did not say.
    as_of: float | None = None
    last_modified: float | None = None


@dataclass(frozen=True, slots=True)
class SpanTarget:
    """How a call to one tool's backend appears in a trace: a span name and attributes after the
    OpenTelemetry semantic conventions (HTTP, database, RPC, MCP). Describes the operation, never
    the call: no argument value, header or credential belongs here."""

    name: str
    kind: Literal["client", "internal"] = "client"
    attributes: Mapping[str, str | int | bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Invocation:
    """How one call is to be made: its time limits and what rides along (the trace context).

    `timeout`/`connect_timeout` override the backend's; `deadline` (time.monotonic()) is when the
    whole call must be answered, so a child call never outlives its parent. `headers` (W3C
    `traceparent`/`tracestate`, and an `Idempotency-Key`) are added to the request by the HTTP
    connectors (OpenAPI, GraphQL, SOAP) under the backend's own credential, and by the gRPC
    connector as metadata; upstream MCP sends trace context in `_meta`.
    """

    timeout: float | None = None
    connect_timeout: float | None = None
    deadline: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # For code that calls other tools (a Python tool's CallContext): a child call as the caller,
    # already bound to it, so the connector still knows nothing of principals.
    call_tool: Callable[[str, Mapping[str, Any]], Awaitable[Any]] | None = None
    # Sent as `Idempotency-Key` by the HTTP connectors and given to Python tools: a backend that
    # honours it applies a repeated attempt's effect once.
    idempotency_key: str | None = None
    # Where a tool reports its progress (fraction 0..1 or None, message or None).
    progress: Callable[[float | None, str | None], Awaitable[None]] | None = None
    # An OpenAPI tool whose backend answers 202 and a status URL: how to follow it to the end.
    follow: FollowPlan | None = None
    # The way back to the agent while the call runs (an upstream MCP server's log messages,
    # sampling and elicitation requests): a `pipeline.relay.CallRelay`; None when there is none.
    relay: Any = None


DEFAULT_INVOCATION = Invocation()


class Connector(Protocol):
    backend: str

    async def load(self) -> list[ToolSpec]:
        """Every operation of the backend as a tool (before include/exclude/rename)."""
        ...

    async def invoke(
        self, tool: ToolSpec, arguments: Mapping[str, Any], invocation: Invocation = DEFAULT_INVOCATION
    ) -> UpstreamResult:
        """Run `tool.origin` with `arguments`, as `invocation` says."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BackendHealth:
    """What a backend's own health service says (for /readyz)."""

    status: str  # "serving", or what is wrong: "not_serving", "unavailable", "timeout" …
    required: bool = False  # /readyz answers 503 while a required backend is not serving
    detail: str | None = None

    @property
    def serving(self) -> bool:
        return self.status == "serving"


@runtime_checkable
class ReportsHealth(Protocol):
    """A connector whose backend has a health service of its own (gRPC's grpc.health.v1)."""

    async def health(self) -> BackendHealth | None:
        """The backend's health now (None: not checked), within its own short time limit."""
        ...
