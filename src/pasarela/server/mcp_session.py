"""MCP session features beyond tools: logging levels, the way back to the agent during a call,
and list_changed notifications.

- `logging/setLevel` (2025-11-25 sessions) sets the least severe log message the session is
  sent: the gateway's own notices about a call ("served stale from cache", "retrying after
  HTTP 503") and an upstream MCP server's log messages during it. 2026-07-28 requests say it
  in their `_meta` instead (server/mcp_channel.py).
- Every `tools/call` runs with an `AgentChannel` (pipeline/relay.py) on its request, so what
  happens during the call reaches the agent that made it, and an upstream's sampling and
  elicitation requests can be put to that agent's client.
- Sessions are remembered with their principal, so a reload that changes what a principal may
  see tells its sessions (server/mcp_list_changed.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from pasarela.pipeline import Door
from pasarela.pipeline.relay import agent_channel
from pasarela.server.mcp_calls import PrincipalResolver
from pasarela.server.mcp_channel import McpAgentChannel
from pasarela.server.mcp_input_required import InputRequired
from pasarela.server.mcp_list_changed import ListChanges

STDIO_SESSION = ""  # stdio is one connection: its level is kept under this key


class SessionServer(Server[Any]):
    """The SDK's low-level server, advertising `listChanged` for each list it serves."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        served = self._request_handlers
        changes = notification_options or NotificationOptions(
            prompts_changed="prompts/list" in served,
            resources_changed="resources/list" in served,
            tools_changed="tools/list" in served,
        )
        return super().create_initialization_options(changes, experimental_capabilities, extensions)


def session_id_of(ctx: ServerRequestContext[Any]) -> str | None:
    """The request's `Mcp-Session-Id`; STDIO_SESSION over stdio; None without a session."""
    if ctx.request is None:
        return STDIO_SESSION
    headers = getattr(ctx.request, "headers", None)
    found = headers.get(MCP_SESSION_ID_HEADER) if headers is not None else None
    return found if isinstance(found, str) else None


class McpSessionFeatures:
    def __init__(self, resolve_principal: PrincipalResolver, door: Door = Door.MCP) -> None:
        self._resolve = resolve_principal
        self.levels: dict[str, str] = {}  # session id → level set with logging/setLevel
        self.list_changes = ListChanges(door, resolve_principal)
        self.input_required = InputRequired()

    def install(self, server: Server[Any]) -> None:
        server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, self._set_level)
        server.add_request_handler(
            "subscriptions/listen", types.SubscriptionsListenRequestParams, self.list_changes.listen
        )
        server.middleware.append(self._around)

    def forget(self, session_id: str) -> None:
        """The session ended: drop what was kept for it."""
        self.levels.pop(session_id, None)
        self.list_changes.forget(session_id)

    async def _set_level(
        self, ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        session = session_id_of(ctx)
        if session is None:
            raise MCPError(
                types.INVALID_REQUEST,
                "logging/setLevel needs a session (Mcp-Session-Id); on 2026-07-28 set "
                f"_meta[{types.LOG_LEVEL_META_KEY!r}] on each request instead",
            )
        self.levels[session] = params.level
        return types.EmptyResult()

    async def _around(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        session = session_id_of(ctx)
        if session:
            self._remember(ctx, session)
        if ctx.method != "tools/call" or ctx.request_id is None:
            return await call_next(ctx)
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return await self._modern_call(ctx, call_next)
        channel = McpAgentChannel(ctx, self.levels.get(session) if session is not None else None)
        with agent_channel(channel):
            try:
                result = await call_next(ctx)
            except Exception:
                await channel.flush()
                raise
        await channel.flush()  # the agent hears what happened before it hears the answer
        return result

    async def _modern_call(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """2026-07-28: the upstream's requests to the agent take the multi-round-trip flow."""
        principal = self._resolve(ctx)
        params = ctx.params if isinstance(ctx.params, Mapping) else {}  # not validated yet
        token = params.get("requestState")
        if isinstance(token, str):
            return await self.input_required.resume(ctx, token, principal)
        return await self.input_required.start(ctx, call_next, principal)

    def _remember(self, ctx: ServerRequestContext[Any], session: str) -> None:
        try:
            principal = self._resolve(ctx)
        except MCPError:
            return
        self.list_changes.seen(session, principal, ctx.session)
