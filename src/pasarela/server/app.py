"""create_app: wiring only. Each part gets its own piece of the configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from pasarela.assembly import Runtime
from pasarela.config import LoadedConfig
from pasarela.console import console_routes, create_console
from pasarela.events.running import run_events
from pasarela.jobs import Jobs, JobStore, JobWorker
from pasarela.jobs.notify import notifying
from pasarela.server.body_limit import BodyLimitMiddleware
from pasarela.server.events import EventRoutes, pushed_by_a_system
from pasarela.server.health import HealthRoutes
from pasarela.server.jobs import JobRoutes
from pasarela.server.live import LiveRuntime
from pasarela.server.mcp import create_mcp_server, create_session_manager, transport_security
from pasarela.server.mcp_calls import principal_from_http
from pasarela.server.mcp_content import McpContent
from pasarela.server.mcp_session import McpSessionFeatures
from pasarela.server.mcp_tasks import McpTasks
from pasarela.server.middleware import AuthenticateMiddleware, RequestIdMiddleware
from pasarela.server.peers import WorkerSlot
from pasarela.server.rest import RestDoor
from pasarela.server.tracing import TraceMiddleware

AGENT_DOORS = ("/v1", "/mcp")


def create_app(
    runtime: Runtime | LiveRuntime,
    slot: WorkerSlot | None = None,
    reload: Callable[[], LoadedConfig] | None = None,
) -> Starlette:
    """The ASGI app; give it a LiveRuntime to be able to reload (the server settings stay).
    `slot` says which worker of `serve --workers N` this app runs in; `reload` reads the
    configuration again (the console's Approve serves the approved tool at once with it)."""
    live = runtime if isinstance(runtime, LiveRuntime) else LiveRuntime(runtime)
    server_settings = live.runtime.config.settings.server
    redactor = live.runtime.config.redactor  # one redactor for the process's life (reloads absorb)

    jobs = create_jobs(live)
    tasks = McpTasks(jobs, redactor, principal_from_http, max_depth=server_settings.max_nesting_depth)
    content = McpContent(lambda: live.runtime, redactor, principal_from_http)
    features = McpSessionFeatures(principal_from_http)
    live.on_switch.append(features.list_changes.reloaded)
    live.on_switch.append(content.followers.reloaded)

    def session_closed(session_id: str) -> None:
        features.forget(session_id)
        content.forget(session_id)

    mcp_server = create_mcp_server(
        lambda: live.runtime.gateway,
        redactor,
        principal_from_http,
        max_depth=server_settings.max_nesting_depth,
        tasks=tasks,
        page_size=server_settings.mcp_page_size,
        content=content,
        discovery_of=lambda: live.runtime.discovery,
        features=features,
    )
    sessions = create_session_manager(
        mcp_server,
        transport_security(server_settings.host, server_settings.port, server_settings.allowed_hosts),
        max_body_bytes=server_settings.max_request_bytes,
        sessions=server_settings.mcp_sessions,
        slot=slot,
        on_forward=lambda: live.runtime.metrics.mcp_forwarded.inc(),  # noqa: PLW0108 (reloads replace the runtime)
        on_open=lambda principal: live.runtime.metrics.session_opened(principal),  # noqa: PLW0108
        on_close=session_closed,
    )
    rest = RestDoor(live, redactor, max_depth=server_settings.max_nesting_depth)
    job_routes = JobRoutes(jobs, redactor, rest.arguments)
    rest.as_job = job_routes.start_job
    health = HealthRoutes(live)
    event_routes = EventRoutes(lambda: live.runtime.events, redactor)
    console = create_console(live, redactor, reload)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with (
                sessions.run(),
                tasks.running(),
                content.running(),
                anyio.create_task_group() as background,
            ):
                await live.start_delivery()
                if jobs.worker is not None:
                    background.start_soon(jobs.worker.run)
                if live.runtime.config.settings.events.sources:  # no source, no event: nothing to follow
                    background.start_soon(
                        run_events,
                        lambda: live.runtime.events,
                        lambda: live.runtime.webhooks,
                        lambda: {p.id: p for p in live.runtime.authenticator.api_keys.principals()},
                        live.runtime.metrics,
                    )
                health.ready = True
                try:
                    yield
                finally:
                    health.ready = False
                    background.cancel_scope.cancel()  # running jobs are given back for another worker
                    if sessions.forwarder is not None:
                        await sessions.forwarder.aclose()
        finally:
            await live.aclose()

    return Starlette(
        routes=[
            *health.routes(),
            *rest.routes(),
            *job_routes.routes(),
            *event_routes.routes(),
            *console_routes(console),
            Route("/mcp", StreamableHTTPASGIApp(sessions), methods=["GET", "POST", "DELETE"]),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            # Before authentication: a refused request is traced too, with the agent's trace id.
            Middleware(TraceMiddleware, tracing=lambda: live.runtime.tracing, prefixes=AGENT_DOORS),
            Middleware(
                AuthenticateMiddleware,
                authenticator=lambda: live.runtime.authenticator,
                redactor=redactor,
                prefixes=AGENT_DOORS,
                exempt=pushed_by_a_system,
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


def create_jobs(live: LiveRuntime) -> Jobs:
    """Jobs on the runtime's durable store; with `jobs.workers` above 0 this process runs them too."""
    runtime = live.runtime
    settings = runtime.config.settings.jobs
    store = JobStore(runtime.state, max_active=settings.max_active_per_principal)
    jobs = Jobs(store, settings, lambda: live.runtime.gateway)
    if settings.workers > 0:
        jobs.worker = JobWorker(
            store,
            lambda: live.runtime.gateway,
            settings,
            runtime.metrics,
            on_finish=notifying(lambda: live.runtime.webhooks, jobs.finished),
        )
    return jobs
