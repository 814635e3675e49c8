"""A real upstream MCP server (the official SDK's low-level server over Streamable HTTP) whose
resources can be subscribed to in both protocol eras (and one tool, `pid`): `resources/subscribe` (2025-11-25) and
`subscriptions/listen` (2026-07-28). `POST /touch?uri=…` says a resource changed: each
subscribed session and each listen stream naming it is told. It records what it was asked, so
tests can tell how many subscriptions reached it. A test can hold its subscribe and listen requests
(`gate`, a threading.Event: the server runs in a thread or process of its own) and have it refuse
URIs (`refuse`; `WATCHED_REFUSE` in a process of its own: URIs separated by spaces)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import anyio.to_thread
import httpx
import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import REPO
from tests.helpers.processes import child_env

BOARD, SECRET_BOARD = "watch://board", "watch://secret-board"
TICKETS = "watch://tickets/{id}"


class WatchedUpstream:
    def __init__(self) -> None:
        self.subscribed: list[str] = []
        self.unsubscribed: list[str] = []
        self.listens: list[list[str]] = []  # the URIs each listen stream asked for
        self.refused: list[str] = []
        self.refuse: set[str] = set(os.environ.get("WATCHED_REFUSE", "").split())
        self.gate = threading.Event()  # cleared: subscribe and listen requests wait until it is set
        self.gate.set()
        self.held = threading.Event()  # set once a request waits at the closed gate
        self.touches = 0
        self._sessions: dict[str, list[ServerSession]] = {}
        self._bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(self._bus)

    def app(self) -> Starlette:
        server: Server[Any] = Server(
            "watched-upstream",
            on_list_resources=self._list,
            on_list_resource_templates=self._templates,
            on_read_resource=self._read,
            on_subscribe_resource=self._subscribe,
            on_unsubscribe_resource=self._unsubscribe,
            on_list_tools=self._tools,
            on_call_tool=self._call,
        )
        server.add_request_handler(
            "subscriptions/listen", types.SubscriptionsListenRequestParams, self._listens
        )
        return server.streamable_http_app(
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            custom_starlette_routes=[
                Route("/touch", self._touch, methods=["POST"]),
                Route("/record", self._record, methods=["GET"]),
            ],
        )

    async def _tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        schema = {"type": "object", "properties": {}}
        return types.ListToolsResult(
            tools=[types.Tool(name="pid", description="This process's id", input_schema=schema)]
        )

    async def _call(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(type="text", text=str(os.getpid()))])

    async def _list(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(uri=BOARD, name="board", mime_type="text/plain"),
                types.Resource(uri=SECRET_BOARD, name="secret_board", mime_type="text/plain"),
            ]
        )

    async def _templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[types.ResourceTemplate(uri_template=TICKETS, name="ticket")]
        )

    async def _read(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        text = f"{params.uri} after {self.touches} changes"
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=params.uri, text=text)])

    async def _subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        await self._pass_gate()
        if params.uri in self.refuse:
            self.refused.append(params.uri)
            raise MCPError(types.INVALID_PARAMS, f"no such resource: {params.uri}")
        self.subscribed.append(params.uri)
        self._sessions.setdefault(params.uri, []).append(ctx.session)
        return types.EmptyResult()

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self.unsubscribed.append(params.uri)
        sessions = self._sessions.get(params.uri, [])
        if ctx.session in sessions:
            sessions.remove(ctx.session)
        return types.EmptyResult()

    async def _listens(
        self, ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        await self._pass_gate()
        asked = list(params.notifications.resource_subscriptions or ())
        self.listens.append(asked)
        self.refused.extend(uri for uri in asked if uri in self.refuse)
        honored = [uri for uri in asked if uri not in self.refuse]  # the others are not honored
        notifications = params.notifications.model_copy(update={"resource_subscriptions": honored or None})
        return await self._listen(ctx, params.model_copy(update={"notifications": notifications}))

    async def _pass_gate(self) -> None:
        if not self.gate.is_set():
            self.held.set()
            await anyio.to_thread.run_sync(self.gate.wait)

    async def _touch(self, request: Request) -> JSONResponse:
        uri = request.query_params["uri"]
        self.touches += 1
        told = 0
        for session in list(self._sessions.get(uri, ())):
            await session.send_resource_updated(uri)
            told += 1
        await self._bus.publish(ResourceUpdated(uri=uri))
        return JSONResponse({"sessions": told})

    async def _record(self, request: Request) -> JSONResponse:
        return JSONResponse({"subscribed": self.subscribed, "listens": self.listens, "refused": self.refused})


def create_app() -> Starlette:
    """For `uvicorn --factory` (a process the tests can kill)."""
    return WatchedUpstream().app()


class UpstreamProcess:
    """A WatchedUpstream in a process of its own, that a test can kill (SIGKILL) and start again."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, refuse: str = "") -> None:
        """`refuse`: URIs (separated by spaces) this process refuses to subscribe to."""
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "tests.helpers.watched_upstream:create_app"),
                *("--port", str(self.port), "--lifespan", "on", "--log-level", "warning"),
            ],
            env={**child_env(), "WATCHED_REFUSE": refuse},
            cwd=REPO,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{self.base}/record", timeout=1).raise_for_status()
                return
            except httpx.TransportError:
                assert self.process.poll() is None and time.monotonic() < deadline, (
                    "the upstream did not start"
                )
                time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    async def record(self) -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            found: dict[str, Any] = (await http.get(f"{self.base}/record")).json()
            return found
