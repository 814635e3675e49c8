"""The spans of a call: the call itself, each stage, each resilience attempt, the backend call.

`TraceObserver` is the pipeline's StageObserver when tracing is on. A call whose trace is not
sampled gets no spans of its own (its context already carries the trace id and what backends
must receive), so 1 % sampling costs little more than off. Attributes follow the OpenTelemetry
semantic conventions and never hold an argument value, a header or a credential; a failure
is recorded by its problem code, never by its message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pasarela.connectors.base import SpanTarget
from pasarela.errors import PasarelaError
from pasarela.pipeline.call import Call
from pasarela.telemetry import correlation

PROPAGATOR = TraceContextTextMapPropagator()
# Whether the call being served has a recorded span: set by the call's span, read for every stage,
# attempt and backend call (a context variable costs far less than asking OpenTelemetry).
_recording: ContextVar[bool] = ContextVar("pasarela_recording", default=False)
KINDS = {"client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL, "server": SpanKind.SERVER}
HTTP_STATUS = "http.response.status_code"
HTTP_METHOD = "http.request.method"  # a span with it is an HTTP client's: it gets the answer's status


def trace_id_of(span: Span) -> str | None:
    found = span.get_span_context()
    return format(found.trace_id, "032x") if found.is_valid else None


def record_failure(span: Span, exc: BaseException) -> None:
    """The failure's kind, never its message (a detail may quote what the agent sent)."""
    if isinstance(exc, PasarelaError):
        span.set_attribute("error.type", exc.code)
        upstream = getattr(exc, "upstream_status", None)
        if isinstance(upstream, int) and HTTP_METHOD in getattr(span, "attributes", {}):
            span.set_attribute(HTTP_STATUS, upstream)
        if exc.status >= 500:
            span.set_status(Status(StatusCode.ERROR, exc.title))
        return
    name = "cancelled" if isinstance(exc, asyncio.CancelledError) else type(exc).__qualname__
    span.set_attribute("error.type", name)
    span.set_status(Status(StatusCode.ERROR))


class Spanned:
    """An async context manager: a span, current while inside, failures recorded, then ended."""

    __slots__ = ("_attributes", "_kind", "_links", "_name", "_parent", "_span", "_token", "_tracer")

    def __init__(
        self,
        tracer: Tracer,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        parent: otel_context.Context | None = None,
        links: Sequence[Link] = (),
    ) -> None:
        self._tracer, self._name, self._kind, self._attributes = tracer, name, kind, attributes
        self._parent = parent
        self._links = links
        self._span: Span = trace.INVALID_SPAN
        self._token: object = None

    async def __aenter__(self) -> Span:
        return self.enter()

    def enter(self) -> Span:
        self._span = self._tracer.start_span(
            self._name, self._parent, kind=self._kind, attributes=self._attributes, links=self._links
        )
        self._token = otel_context.attach(trace.set_span_in_context(self._span, self._parent))
        return self._span

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.exit(exc)

    def exit(self, exc: BaseException | None) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]
        if exc is not None:
            record_failure(self._span, exc)
        self._span.end()


class _Nothing:
    """For what is not traced: enters and leaves at the cost of two calls."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


NOTHING = _Nothing()


class BackendTrace:
    """What the gateway hands the connector (the trace context for the backend) and reports back."""

    __slots__ = ("headers", "span")

    def __init__(self, headers: dict[str, str], span: Span) -> None:
        self.headers = headers
        self.span = span

    def answered(self, status: int | None) -> None:
        if (
            status is not None
            and self.span.is_recording()
            and HTTP_METHOD in getattr(self.span, "attributes", {})
        ):
            self.span.set_attribute(HTTP_STATUS, status)


class _BackendScope:
    __slots__ = ("_spanned",)

    def __init__(self, spanned: Spanned | None) -> None:
        self._spanned = spanned

    async def __aenter__(self) -> BackendTrace:
        span = self._spanned.enter() if self._spanned is not None else trace.get_current_span()
        headers: dict[str, str] = {}
        PROPAGATOR.inject(headers)  # the backend span, or the unsampled trace it belongs to
        return BackendTrace(headers, span)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._spanned is not None:
            self._spanned.exit(exc)


class _CallScope:
    """The call's span; the correlation follows it when it starts a trace (CLI, stdio, jobs)."""

    __slots__ = ("_recording", "_reset", "_spanned")

    def __init__(self, spanned: Spanned) -> None:
        self._spanned = spanned
        self._reset: object = None
        self._recording: object = None

    async def __aenter__(self) -> None:
        span = self._spanned.enter()
        self._recording = _recording.set(span.is_recording())
        trace_id = trace_id_of(span)
        found = correlation.current()
        if trace_id is not None and found.trace_id != trace_id:
            moved = replace(found, trace_id=trace_id)
            self._reset = correlation._current.set(moved)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._reset is not None:
            correlation._current.reset(self._reset)  # type: ignore[arg-type]
        _recording.reset(self._recording)  # type: ignore[arg-type]
        self._spanned.exit(exc)


class _JobScope:
    """A job run's root span; its trace id becomes the run's (audit records, logs), sampled or not."""

    __slots__ = ("_reset", "_spanned")

    def __init__(self, spanned: Spanned) -> None:
        self._spanned = spanned
        self._reset: object = None

    async def __aenter__(self) -> None:
        span = self._spanned.enter()
        self._reset = correlation._current.set(correlation.Correlation(trace_id_of(span)))

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        correlation._current.reset(self._reset)  # type: ignore[arg-type]
        self._spanned.exit(exc)


class _Unrecorded:
    """A call in a trace that is not sampled: no span, and none for its stages either."""

    __slots__ = ("_token",)

    async def __aenter__(self) -> None:
        self._token = _recording.set(False)

    async def __aexit__(self, *exc: object) -> None:
        _recording.reset(self._token)


class TraceObserver:
    """Spans for every call, stage, attempt and backend call (the pipeline's StageObserver)."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self._stage_attributes: dict[str, dict[str, str]] = {}

    def around(self, stage: str, call: Call) -> Any:
        if not _recording.get():
            return NOTHING
        attributes = self._stage_attributes.get(stage)
        if attributes is None:
            attributes = self._stage_attributes[stage] = {"pasarela.stage": stage}
        return Spanned(self.tracer, f"stage {stage}", SpanKind.INTERNAL, attributes)

    def around_call(self, call: Call) -> Any:
        parent = trace.get_current_span()
        if parent.get_span_context().is_valid and not parent.is_recording():
            return _Unrecorded()  # a trace not sampled: its context is all the call needs
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.tool.name,
            "gen_ai.tool.call.id": call.request_id,
            "enduser.id": call.principal.id,
            "pasarela.backend": call.tool.backend,
            "pasarela.door": str(call.door),
            "pasarela.via": str(call.via),
        }
        if call.parent_id is not None:
            attributes["pasarela.parent_id"] = call.parent_id
        conversation = correlation.current().conversation
        if conversation is not None:
            attributes["gen_ai.conversation.id"] = conversation  # a hash, as in the audit
        return _CallScope(
            Spanned(self.tracer, f"execute_tool {call.tool.name}", SpanKind.INTERNAL, attributes)
        )

    def around_attempt(self, call: Call, number: int) -> Any:
        if not _recording.get():
            return NOTHING
        attributes = {"pasarela.attempt": number, "pasarela.backend": call.tool.backend}
        return Spanned(self.tracer, "attempt", SpanKind.INTERNAL, attributes)

    def around_job(self, tool: str, run_id: str, attempt: int, started_by: str | None) -> _JobScope:
        """A job's run: the root of a trace of its own (a job may run hours after its start, and
        more than once), linked to the call that started it — OpenTelemetry's advice for work
        taken from a queue."""
        links = []
        if started_by:
            started = trace.get_current_span(PROPAGATOR.extract({"traceparent": started_by}))
            if started.get_span_context().is_valid:
                links.append(Link(started.get_span_context(), {"pasarela.link": "job.start"}))
        attributes: dict[str, Any] = {
            "gen_ai.tool.name": tool,
            "pasarela.job.run": run_id,
            "pasarela.job.attempt": attempt,
        }
        spanned = Spanned(
            self.tracer, f"job {tool}", SpanKind.CONSUMER, attributes, otel_context.Context(), links
        )
        return _JobScope(spanned)

    def traceparent(self) -> str | None:
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier)
        return carrier.get("traceparent")

    def around_backend(self, call: Call, target: SpanTarget) -> _BackendScope:
        if not _recording.get():
            return _BackendScope(None)
        return _BackendScope(Spanned(self.tracer, target.name, KINDS[target.kind], target.attributes))
