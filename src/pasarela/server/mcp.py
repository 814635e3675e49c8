"""The MCP door, on the official SDK: Streamable HTTP at /mcp and stdio.

The one MCP translation of PasarelaError lives here: errors with an `mcp_code` become
JSON-RPC errors; all others become a tool result with `isError: true` whose text is the
same problem document the REST door returns, so a model can read it and correct itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
import orjson
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError

from pasarela import __version__, jsonsafe
from pasarela.catalog.formats import mcp as mcp_tool_dict
from pasarela.catalog.spec import ToolSpec
from pasarela.config.traffic import McpSessionSettings
from pasarela.errors import PasarelaError
from pasarela.identity import Principal
from pasarela.pipeline import Door, Gateway
from pasarela.secrets import Redactor
from pasarela.server.arguments import DEFAULT_MAX_DEPTH, check_arguments, idempotency_key
from pasarela.server.middleware import principal_of, request_id_of
from pasarela.server.peers import WorkerSlot
from pasarela.server.sessions import FairSessionManager
from pasarela.server.tracing import mcp_call_trace
from pasarela.telemetry.correlation import current_trace_id

PrincipalResolver = Callable[[ServerRequestContext[Any]], Principal]
INSTRUCTIONS = (
    "Pasarela exposes enterprise systems as tools. Every call is authorized, validated and "
    "audited; a failed call returns a problem document explaining what to fix."
)


def mcp_tool(spec: ToolSpec) -> types.Tool:
    return types.Tool.model_validate(mcp_tool_dict(spec))


def principal_from_http(ctx: ServerRequestContext[Any]) -> Principal:
    request = ctx.request
    scope = getattr(request, "scope", None)
    if scope is None:
        raise MCPError(types.INVALID_REQUEST, "this MCP transport carries no authenticated principal")
    return principal_of(scope)


def _request_id(ctx: ServerRequestContext[Any]) -> str | None:
    scope = getattr(ctx.request, "scope", None)
    if scope is not None and (found := request_id_of(scope)):
        return f"{found}-{ctx.request_id}" if ctx.request_id is not None else found
    return None


def _idempotency_key(params: types.CallToolRequestParams) -> str | None:
    """`_meta.idempotency_key` of a tools/call, if the client sent one."""
    meta: Any = params.meta
    key = meta.get("idempotency_key") if isinstance(meta, dict) else getattr(meta, "idempotency_key", None)
    return idempotency_key(key, source="_meta.idempotency_key")


def error_result(error: PasarelaError, redactor: Redactor, request_id: str | None) -> types.CallToolResult:
    """A PasarelaError as MCP sees it (raises MCPError where the protocol wants one)."""
    problem = error.to_problem()
    if request_id:
        problem["request_id"] = request_id
    if (trace_id := current_trace_id()) is not None:
        problem["trace_id"] = trace_id
    text = redactor.redact(jsonsafe.dumps(problem).decode())
    if error.mcp_code is not None:
        raise MCPError(error.mcp_code, redactor.redact(error.detail), orjson.loads(text))
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def success_result(result: Any, meta: dict[str, Any]) -> types.CallToolResult:
    text = jsonsafe.dumps(result).decode()
    structured = result if isinstance(result, dict) else None
    content = [types.TextContent(type="text", text=text)]
    if meta.get("partial"):
        # A partial answer is still an answer: the model reads what is missing, not an error.
        content.append(types.TextContent(type="text", text=partial_note(meta.get("errors", []))))
    return types.CallToolResult(content=content, structured_content=structured, meta={"pasarela": meta})


def partial_note(errors: list[dict[str, Any]]) -> str:
    """One line per missing part, e.g. "note: score (get_credit_score) temporarily unavailable"."""
    lines = []
    for error in errors:
        why = "not permitted" if error.get("code") == "denied" else "temporarily unavailable"
        lines.append(f"note: {error.get('step')} ({error.get('tool')}) {why}")
    return "\n".join(lines) or "note: part of this answer is missing"


class _McpTools:
    """Each tool's MCP form, built once per catalog (listing is per principal; forms never change)."""

    def __init__(self) -> None:
        self._gateway: Gateway | None = None
        self._tools: dict[str, types.Tool] = {}

    def of(self, gateway: Gateway) -> dict[str, types.Tool]:
        if gateway is not self._gateway:  # a reload brought a new catalog
            self._tools = {spec.name: mcp_tool(spec) for spec in gateway.catalog}
            self._gateway = gateway
        return self._tools


def create_mcp_server(
    gateway_of: Callable[[], Gateway],
    redactor: Redactor,
    resolve_principal: PrincipalResolver,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    door: Door = Door.MCP,
) -> Server[Any]:
    """`gateway_of()` is the current gateway: a reload may replace it between requests;
    `max_depth` bounds the nesting of arguments (server.max_nesting_depth)."""
    forms = _McpTools()

    def input_schema(name: str) -> dict[str, Any] | None:
        # Lets the SDK check Mcp-Param-* headers without running tools/list on every call.
        catalog = gateway_of().catalog
        return dict(catalog.get(name).input_schema) if name in catalog else None

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = resolve_principal(ctx)
        gateway = gateway_of()
        mcp_tools = forms.of(gateway)
        tools = [mcp_tools[spec.name] for spec in gateway.tools_for(principal, door)]
        # Per-principal answer: never cacheable across identities.
        return types.ListToolsResult(tools=tools, ttl_ms=0, cache_scope="private")

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        principal = resolve_principal(ctx)
        request_id = _request_id(ctx)
        gateway = gateway_of()
        scope = getattr(ctx.request, "scope", None)
        async with mcp_call_trace(gateway.tracer, scope, params.meta, params.name, ctx.request_id, door):
            try:
                key = _idempotency_key(params)
                check_arguments(params.arguments, tool=params.name, max_depth=max_depth)
                outcome = await gateway.call(
                    principal,
                    params.name,
                    params.arguments,
                    door=door,
                    request_id=request_id,
                    idempotency_key=key,
                )
            except PasarelaError as exc:
                return error_result(exc, redactor, request_id)
            meta = {**outcome.public_meta(), "request_id": request_id}
            if (trace_id := current_trace_id()) is not None:
                meta["trace_id"] = trace_id
            return success_result(outcome.result, meta)

    server: Server[Any] = Server(
        "pasarela",
        version=__version__,
        instructions=INSTRUCTIONS,
        get_tool_input_schema=input_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    # The SDK's default OpenTelemetry middleware cost ~8% of MCP CPU per call with no exporter
    # installed (docs/performance.md). Pasarela's own telemetry stage covers every call; its
    # tracing will span the whole pipeline, not just the protocol layer.
    server.middleware.clear()
    return server


def transport_security(host: str, port: int, allowed_hosts: list[str] | None) -> TransportSecuritySettings:
    """DNS-rebinding protection: only expected Host (and Origin) headers reach /mcp."""
    if allowed_hosts is not None:
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=allowed_hosts,
            allowed_origins=[f"http://{h}" for h in allowed_hosts] + [f"https://{h}" for h in allowed_hosts],
        )
    if host in ("127.0.0.1", "localhost", "::1"):
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    # Bound to a routable address without a list: the operator decides (documented in docs/operations.md).
    return TransportSecuritySettings(enable_dns_rebinding_protection=False)


def create_session_manager(
    server: Server[Any],
    security: TransportSecuritySettings,
    *,
    max_body_bytes: int,
    sessions: McpSessionSettings | None = None,
    slot: WorkerSlot | None = None,
    on_forward: Callable[[], None] = lambda: None,
    on_open: Callable[[str], None] = lambda principal: None,
) -> FairSessionManager:
    """Sessions are capped and rate-limited per principal (server/sessions.py); with `slot`,
    a session's requests reach the worker that holds it (server/peers.py)."""
    return FairSessionManager(
        server,
        sessions or McpSessionSettings(),
        security,
        max_body_bytes=max_body_bytes,
        slot=slot,
        on_forward=on_forward,
        on_open=on_open,
    )
