"""The MCP door beyond tools: resources and templates (server/mcp_resources.py), prompts and
completions (server/mcp_prompts.py), events as resources with their subscriptions
(server/mcp_event_resources.py), and subscriptions to the other resources
(server/mcp_resource_follow.py). Installed on the low-level server by `create_mcp_server`."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY

from pasarela.assembly import Runtime
from pasarela.identity.principal import Principal
from pasarela.pipeline import Door
from pasarela.secrets import Redactor
from pasarela.server.mcp_calls import PrincipalResolver, mcp_request_id
from pasarela.server.mcp_event_resources import MAX_TARGETS, McpEventResources
from pasarela.server.mcp_prompts import McpPrompts
from pasarela.server.mcp_resource_follow import ResourceFollowers
from pasarela.server.mcp_resources import McpResources
from pasarela.server.mcp_session import session_id_of


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
        self.followers = ResourceFollowers(runtime_of, redactor, door)
        self._streams = itertools.count()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Enter for the server's life: resource subscriptions are followed inside it."""
        async with self.events.running(), self.followers.running():
            yield

    def forget(self, session_id: str) -> None:
        """A 2025-11-25 session ended: it follows nothing any more."""
        self.followers.drop_soon(f"session:{session_id}")

    def install(self, server: Server[Any]) -> None:
        add = server.add_request_handler
        add("resources/list", types.PaginatedRequestParams, self.resources.list_resources)
        add("resources/templates/list", types.PaginatedRequestParams, self.resources.list_templates)
        add("resources/read", types.ReadResourceRequestParams, self.resources.read)
        add("resources/subscribe", types.SubscribeRequestParams, self._subscribe)
        add("resources/unsubscribe", types.UnsubscribeRequestParams, self._unsubscribe)
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
            await self._listen(ctx, uris, self.resolve_principal(ctx), meta)
            return types.SubscriptionsListenResult(_meta=meta)

        add("subscriptions/listen", types.SubscriptionsListenRequestParams, listen)

    async def _listen(
        self, ctx: ServerRequestContext[Any], uris: list[str], principal: Principal, meta: dict[str, Any]
    ) -> None:
        """A 2026-07-28 stream following events and other resources alike, until it closes."""
        key = f"listen:{next(self._streams)}"

        async def send(uri: str) -> None:
            await ctx.session.send_notification(
                types.ResourceUpdatedNotification(
                    params=types.ResourceUpdatedNotificationParams(uri=uri, _meta=meta)
                ),
                related_request_id=ctx.request_id,
            )

        followed: list[str] = []
        try:
            for uri in [u for u in uris if not self.events.claims(u)][:MAX_TARGETS]:
                try:
                    await self.followers.follow(key, principal, uri, send, self._request_id(ctx))
                except MCPError:
                    continue  # not honored: unknown, not permitted and not offered alike
                followed.append(uri)
            events = [u for u in uris if self.events.claims(u)]
            await self.events.listen_resources(ctx, events, principal, meta, followed)
        finally:
            await self.followers.drop(key)

    @staticmethod
    def _request_id(ctx: ServerRequestContext[Any]) -> str:
        return mcp_request_id(ctx) or uuid.uuid4().hex

    async def _subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        principal = self.resolve_principal(ctx)
        if self.events.claims(params.uri):
            return await self.events.subscribe(ctx, params, principal)
        session = session_id_of(ctx)
        if session is None:
            raise MCPError(
                types.INVALID_REQUEST,
                "resources/subscribe needs a session (Mcp-Session-Id); on 2026-07-28 use subscriptions/listen",
            )
        await self.followers.follow(
            f"session:{session}",
            principal,
            params.uri,
            ctx.session.send_resource_updated,
            self._request_id(ctx),
        )
        return types.EmptyResult()

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        if self.events.claims(params.uri):
            return await self.events.unsubscribe(ctx, params)
        session = session_id_of(ctx)
        if session is not None:
            await self.followers.unfollow(f"session:{session}", params.uri)
        return types.EmptyResult()
