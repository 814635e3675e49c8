"""Trace context at the doors: the agent's W3C `traceparent`/`tracestate` is kept.

Over HTTP (REST and MCP alike) the middleware reads the headers; with tracing on, each request
is a server span (HTTP semantic conventions). An MCP `tools/call` may carry its own context in
`_meta.traceparent` (SEP-414), which then parents the call's MCP server span; without one, the
HTTP request's span does. With tracing off, only the agent's trace id is kept (logs, audit,
`meta.trace_id`) and its context passed on unchanged to backends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pasarela.pipeline import Door
from pasarela.pipeline.call import CallTracer
from pasarela.telemetry import correlation
from pasarela.telemetry.correlation import (
    CONVERSATION_HEADER,
    CONVERSATION_META,
    NONE,
    Correlation,
    conversation_hash,
    correlated,
    inbound,
    session_hash,
)
from pasarela.telemetry.spans import PROPAGATOR, Spanned, TraceObserver, record_failure, trace_id_of
from pasarela.telemetry.tracing import Tracing

CORRELATION_KEY = "pasarela.correlation"
CONTEXT_KEY = "pasarela.trace_context"  # the request span's context, for the MCP handler's task
SESSION_HEADER = "mcp-session-id"
MAX_NAME = 64


def _scope_attributes(scope: Scope) -> dict[str, Any]:
    """HTTP server conventions; the query string is left out (it may hold what the agent sent)."""
    attributes: dict[str, Any] = {
        "http.request.method": scope["method"],
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    server = scope.get("server")
    if server:
        attributes["server.address"], attributes["server.port"] = server[0], server[1] or 0
    client = scope.get("client")
    if client:
        attributes["client.address"] = client[0]
    return attributes


class TraceMiddleware:
    def __init__(
        self, app: ASGIApp, tracing: Callable[[], Tracing | None], prefixes: tuple[str, ...]
    ) -> None:
        self.app = app
        self.tracing = tracing  # the current runtime's: a reload may turn it on or off
        self.prefixes = prefixes

    def _protected(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        session = session_hash(headers.get(SESSION_HEADER))
        conversation = conversation_hash(headers.get(CONVERSATION_HEADER))
        tracing = self.tracing()
        if tracing is None:
            found = inbound(headers, session, conversation)
            if found == NONE:
                await self.app(scope, receive, send)
                return
            scope[CORRELATION_KEY] = found
            with correlated(found):
                await self.app(scope, receive, send)
            return
        ids = Correlation(session=session, conversation=conversation)
        await self._traced(tracing, scope, receive, send, headers, ids)

    async def _traced(
        self,
        tracing: Tracing,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Headers,
        ids: Correlation,
    ) -> None:
        parent = PROPAGATOR.extract(headers)
        method = scope["method"]
        span = tracing.tracer.start_span(
            method, parent, kind=SpanKind.SERVER, attributes=_scope_attributes(scope)
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        status = 0

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        found = replace(ids, trace_id=trace_id_of(span))
        scope[CORRELATION_KEY] = found
        scope[CONTEXT_KEY] = otel_context.get_current()
        try:
            with correlated(found):
                await self.app(scope, receive, send_traced)
        except BaseException as exc:
            record_failure(span, exc)
            raise
        finally:
            template = getattr(scope.get("route"), "path", None)
            if isinstance(template, str):
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
            if status:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_attributes({"error.type": str(status)})
                    span.set_status(Status(StatusCode.ERROR))
            otel_context.detach(token)
            span.end()


def _meta_carrier(meta: Any) -> dict[str, str]:
    """`traceparent`/`tracestate` (and `conversationId`) from an MCP request's `_meta`, if it has
    them as strings."""
    carrier: dict[str, str] = {}
    for key in ("traceparent", "tracestate", CONVERSATION_META):
        value = meta.get(key) if isinstance(meta, Mapping) else getattr(meta, key, None)
        if value is None and not isinstance(meta, Mapping):  # pydantic keeps extra keys here
            value = (getattr(meta, "model_extra", None) or {}).get(key)
        if isinstance(value, str):
            carrier[key] = value
    return carrier


class _Correlated:
    __slots__ = ("_correlation", "_token")

    def __init__(self, found: Correlation) -> None:
        self._correlation = found
        self._token: Any = None

    async def __aenter__(self) -> None:
        self._token = correlation._current.set(self._correlation)

    async def __aexit__(self, *exc: object) -> None:
        correlation._current.reset(self._token)


class _McpSpan:
    __slots__ = ("_ids", "_spanned", "_token")

    def __init__(self, spanned: Spanned, ids: Correlation) -> None:
        self._spanned = spanned
        self._ids = ids  # the session and conversation
        self._token: Any = None

    async def __aenter__(self) -> None:
        span = self._spanned.enter()
        self._token = correlation._current.set(replace(self._ids, trace_id=trace_id_of(span)))

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        correlation._current.reset(self._token)
        self._spanned.exit(exc)


def mcp_call_trace(
    tracer: CallTracer | None, scope: Scope | None, meta: Any, tool: str, request_id: Any, door: Door
) -> _Correlated | _McpSpan:
    """The trace context of one MCP `tools/call`, entered around the gateway call."""
    carrier = _meta_carrier(meta) if meta is not None else {}
    outer: Correlation = scope.get(CORRELATION_KEY, NONE) if scope is not None else NONE
    conversation = conversation_hash(carrier.get(CONVERSATION_META)) or outer.conversation
    if conversation != outer.conversation:
        outer = replace(outer, conversation=conversation)
    from_meta = correlation.parse_traceparent(carrier.get("traceparent")) is not None
    if not isinstance(tracer, TraceObserver):
        return _Correlated(inbound(carrier, outer.session, conversation) if from_meta else outer)
    parent = (
        PROPAGATOR.extract(carrier) if from_meta else (scope.get(CONTEXT_KEY) if scope is not None else None)
    )
    attributes: dict[str, Any] = {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool[:MAX_NAME],
        "network.transport": "pipe" if door is Door.STDIO else "tcp",
    }
    if request_id is not None:
        attributes["jsonrpc.request.id"] = str(request_id)[:MAX_NAME]
    if outer.session is not None:
        attributes["mcp.session.id"] = outer.session  # a hash: the id itself admits to the session
    if conversation is not None:
        attributes["gen_ai.conversation.id"] = conversation  # a hash, as recorded in the audit
    spanned = Spanned(tracer.tracer, f"tools/call {tool[:MAX_NAME]}", SpanKind.SERVER, attributes, parent)
    return _McpSpan(spanned, Correlation(session=outer.session, conversation=conversation))
