"""The MCP door beyond tools: resources and templates (server/mcp_resources.py), prompts and
completions (server/mcp_prompts.py), events as resources with their subscriptions
(server/mcp_event_resources.py). Installed on the low-level server by `create_mcp_server`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY

from pasarela.assembly import Runtime
from pasarela.pipeline import Door
from pasarela.secrets import Redactor
from pasarela.server.mcp_calls import PrincipalResolver
from pasarela.server.mcp_event_resources import McpEventResources
from pasarela.server.mcp_prompts import McpPrompts
from pasarela.server.mcp_resources import McpResources


class McpContent:
    def __init__(
        self,
        runtime_of: Callable[[], Runtime],
        redactor: Redactor,
        resolve_principal: PrincipalResolver,
        *,
        door: Door = Door.MCP,
    ) -> None:
        """`runtime_of()` is the current runtime: a reload may replace it between requests."""
        self.resolve_principal = resolve_principal
        self.events = McpEventResources(runtime_of, redactor, door)
        self.resources = McpResources(runtime_of, redactor, resolve_principal, self.events, door)
        self.prompts = McpPrompts(runtime_of, redactor, resolve_principal, self.events, door)

    def running(self) -> AbstractAsyncContextManager[None]:
        """Enter for the server's life: 2025-11-25 resource subscriptions are followed inside it."""
        return self.events.running()

    def install(self, server: Server[Any]) -> None:
        add = server.add_request_handler
        add("resources/list", types.PaginatedRequestParams, self.resources.list_resources)
        add("resources/templates/list", types.PaginatedRequestParams, self.resources.list_templates)
        add("resources/read", types.ReadResourceRequestParams, self.resources.read)
        add("resources/subscribe", types.SubscribeRequestParams, self._subscribe)
        add("resources/unsubscribe", types.UnsubscribeRequestParams, self.events.unsubscribe)
        add("prompts/list", types.PaginatedRequestParams, self.prompts.list_prompts)
        add("prompts/get", types.GetPromptRequestParams, self.prompts.get)
        add("completion/complete", types.CompleteRequestParams, self.prompts.complete)
        # Another part of the door may serve the list_changed kinds of subscriptions/listen: a
        # stream that asks for no resource is theirs.
        other = server.get_request_handler("subscriptions/listen")

        async def listen(
            ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
        ) -> types.SubscriptionsListenResult:
            if ctx.request_id is None:
                raise MCPError(types.INVALID_REQUEST, "subscriptions/listen requires a request id")
            uris = list(params.notifications.resource_subscriptions or ())
            if not uris and other is not None:
                result = await other.handler(ctx, params)
                return types.SubscriptionsListenResult.model_validate(result)
            meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: ctx.request_id}
            await self.events.listen_resources(ctx, uris, self.resolve_principal(ctx), meta)
            return types.SubscriptionsListenResult(_meta=meta)

        add("subscriptions/listen", types.SubscriptionsListenRequestParams, listen)

    async def _subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        return await self.events.subscribe(ctx, params, self.resolve_principal(ctx))
