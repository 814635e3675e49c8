"""create_app: wiring only. Each part gets its own piece of the configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from pasarela.assembly import Runtime
from pasarela.server.body_limit import BodyLimitMiddleware
from pasarela.server.health import HealthRoutes
from pasarela.server.live import LiveRuntime
from pasarela.server.mcp import (
    create_mcp_server,
    create_session_manager,
    principal_from_http,
    transport_security,
)
from pasarela.server.middleware import AuthenticateMiddleware, RequestIdMiddleware
from pasarela.server.peers import WorkerSlot
from pasarela.server.rest import RestDoor

AGENT_DOORS = ("/v1", "/mcp")


def create_app(runtime: Runtime | LiveRuntime, slot: WorkerSlot | None = None) -> Starlette:
    """The ASGI app; give it a LiveRuntime to be able to reload (the server settings stay).
    `slot` says which worker of `serve --workers N` this app runs in."""
    live = runtime if isinstance(runtime, LiveRuntime) else LiveRuntime(runtime)
    server_settings = live.runtime.config.settings.server
    redactor = live.runtime.config.redactor  # one redactor for the process's life (reloads absorb)

    mcp_server = create_mcp_server(
        lambda: live.runtime.gateway,
        redactor,
        principal_from_http,
        max_depth=server_settings.max_nesting_depth,
    )
    sessions = create_session_manager(
        mcp_server,
        transport_security(server_settings.host, server_settings.port, server_settings.allowed_hosts),
        max_body_bytes=server_settings.max_request_bytes,
        sessions=server_settings.mcp_sessions,
        slot=slot,
        on_forward=lambda: live.runtime.metrics.mcp_forwarded.inc(),  # noqa: PLW0108 (reloads replace the runtime)
    )
    rest = RestDoor(live, redactor, max_depth=server_settings.max_nesting_depth)
    health = HealthRoutes(live)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with sessions.run():
            await live.start_delivery()
            health.ready = True
            try:
                yield
            finally:
                health.ready = False
                if sessions.forwarder is not None:
                    await sessions.forwarder.aclose()
                await live.aclose()

    return Starlette(
        routes=[
            *health.routes(),
            *rest.routes(),
            Route("/mcp", StreamableHTTPASGIApp(sessions), methods=["GET", "POST", "DELETE"]),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(
                AuthenticateMiddleware,
                authenticator=lambda: live.runtime.authenticator,
                redactor=redactor,
                prefixes=AGENT_DOORS,
            ),
            # After authentication: an anonymous caller is refused before any body is read.
            Middleware(
                BodyLimitMiddleware,
                max_bytes=server_settings.max_request_bytes,
                redactor=redactor,
                prefixes=AGENT_DOORS,
            ),
        ],
        lifespan=lifespan,
    )
