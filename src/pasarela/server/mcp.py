"""The MCP door, on the official SDK: Streamable HTTP at /mcp and stdio.

How outcomes and errors become MCP answers is `server/mcp_calls.py`; progress notifications
are `server/mcp_progress.py`; tasks (durable jobs over MCP) are `server/mcp_tasks.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings

from pasarela import __version__
from pasarela.catalog.discovery import META_TOOLS, SEARCH_TOOLS, Discovery
from pasarela.catalog.formats import mcp as mcp_tool_dict
from pasarela.catalog.spec import ToolSpec
from pasarela.config.traffic import McpSessionSettings
from pasarela.errors import PasarelaError
from pasarela.identity import Principal
from pasarela.pipeline import Door, Gateway
from pasarela.secrets import Redactor
from pasarela.server.arguments import DEFAULT_MAX_DEPTH, check_arguments
from pasarela.server.mcp_calls import (
    PrincipalResolver,
    error_result,
    mcp_request_id,
    meta_idempotency_key,
    success_result,
)
from pasarela.server.mcp_progress import progress_of
from pasarela.server.mcp_session import McpSessionFeatures, SessionServer
from pasarela.server.pages import DEFAULT_PAGE_SIZE, page
from pasarela.server.peers import WorkerSlot
from pasarela.server.sessions import FairSessionManager
from pasarela.server.tracing import mcp_call_trace
from pasarela.telemetry.correlation import current_trace_id

if TYPE_CHECKING:
    from pasarela.server.mcp_content import McpContent
    from pasarela.server.mcp_tasks import McpTasks

INSTRUCTIONS = (
    "Pasarela exposes enterprise systems as tools. Every call is authorized, validated and "
    "audited; a failed call returns a problem document explaining what to fix."
)


def mcp_tool(spec: ToolSpec) -> types.Tool:
    return types.Tool.model_validate(mcp_tool_dict(spec))


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
    tasks: McpTasks | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    content: McpContent | None = None,
    discovery_of: Callable[[], Discovery | None] = lambda: None,
    features: McpSessionFeatures | None = None,
) -> Server[Any]:
    """`gateway_of()` is the current gateway: a reload may replace it between requests;
    `max_depth` bounds the nesting of arguments (server.max_nesting_depth); with `tasks`,
    tools run as durable jobs where their `execution` and the client ask for it; lists come
    in pages of `page_size` (server.mcp_page_size); with `content`, resources, prompts and
    completions are served (server/mcp_content.py); `discovery_of()` is the current tool
    search (catalog/discovery.py), if configured; `features` (logging, the way back to the
    agent during a call, list_changed) are server/mcp_session.py."""
    forms = _McpTools()

    def searching(principal: Principal) -> Discovery | None:
        discovery = discovery_of()
        return discovery if discovery is not None and discovery.applies_to(principal) else None

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
        visible = gateway.tools_for(principal, door)
        if (discovery := searching(principal)) is not None:  # search_tools, call_tool, always visible
            visible = discovery.listed(visible)
        shown, more = page(visible, params.cursor if params else None, page_size, lambda spec: spec.name)
        tools = [mcp_tools.get(spec.name) or mcp_tool(spec) for spec in shown]
        # Per-principal answer: never cacheable across identities.
        return types.ListToolsResult(tools=tools, next_cursor=more, ttl_ms=0, cache_scope="private")

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        principal = resolve_principal(ctx)
        request_id = mcp_request_id(ctx)
        gateway = gateway_of()
        scope = getattr(ctx.request, "scope", None)
        async with mcp_call_trace(gateway.tracer, scope, params.meta, params.name, ctx.request_id, door):
            try:
                key = meta_idempotency_key(params)
                check_arguments(params.arguments, tool=params.name, max_depth=max_depth)
                name, arguments = params.name, params.arguments
                if name in META_TOOLS and (discovery := searching(principal)) is not None:
                    if name == SEARCH_TOOLS:
                        found = discovery.search(gateway.tools_for(principal, door), arguments or {})
                        return success_result(found, {"tool": name, "request_id": request_id})
                    name, arguments = discovery.unwrap(arguments or {})  # call_tool: the named tool's call
                outcome = await gateway.call(
                    principal,
                    name,
                    arguments,
                    door=door,
                    request_id=request_id,
                    idempotency_key=key,
                    progress=progress_of(ctx),
                )
            except PasarelaError as exc:
                return error_result(exc, redactor, request_id)
            meta = {**outcome.public_meta(), "request_id": request_id}
            if (trace_id := current_trace_id()) is not None:
                meta["trace_id"] = trace_id
            return success_result(outcome.result, meta)

    server: Server[Any] = SessionServer(
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
    if tasks is not None:
        tasks.install(server, call_tool)
    # First: content's subscriptions/listen hands the streams that ask for no resource to ours.
    (features or McpSessionFeatures(resolve_principal, door)).install(server)
    if content is not None:
        content.install(server)
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
    on_close: Callable[[str], None] = lambda session: None,
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
        on_close=on_close,
    )
