"""The console's routes under /admin: every page and action behind `admit` (admins only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pasarela.config import LoadedConfig
from pasarela.console import login as login_views
from pasarela.console.access import admit
from pasarela.console.core import Console, Visit
from pasarela.console.render import environment
from pasarela.console.session import SessionCodec
from pasarela.console.static import serve_asset
from pasarela.console.trail import ConsoleTrail
from pasarela.console.views.activity import events, jobs
from pasarela.console.views.audit import audit, verify_chain
from pasarela.console.views.backends import backends
from pasarela.console.views.costs import costs
from pasarela.console.views.overview import overview
from pasarela.console.views.policies import explain, policies
from pasarela.console.views.tools import approve, tools
from pasarela.secrets import Redactor
from pasarela.server.live import LiveRuntime

View = Callable[[Visit], Awaitable[Response]]
PREFIX = "/admin"


def create_console(
    live: LiveRuntime, redactor: Redactor, reload: Callable[[], LoadedConfig] | None = None
) -> Console:
    """The console for the process's life: its session key and templates outlive reloads."""
    settings = live.runtime.config.settings.console
    codec = (
        SessionCodec(settings.session_key.get_secret_value().encode(), settings.session_ttl)
        if settings.session_key is not None
        else SessionCodec.random(settings.session_ttl)
    )
    trail = ConsoleTrail(lambda: live.runtime.audit, redactor)
    return Console(live, redactor, codec, environment(redactor), trail, reload)


def console_routes(console: Console) -> list[Route]:
    if not console.settings.enabled:
        return []

    def guarded(view: View) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not console.settings.enabled:  # turned off by a reload
                return Response(status_code=404)
            visit = await admit(console, request)
            if isinstance(visit, Response):
                return visit
            return await view(visit)

        return endpoint

    async def login_form(request: Request) -> Response:
        return await login_views.login_form(console, request)

    async def login(request: Request) -> Response:
        return await login_views.login(console, request)

    pages: list[tuple[str, View]] = [
        ("", overview),
        ("/", overview),
        ("/backends", backends),
        ("/tools", tools),
        ("/policies", policies),
        ("/audit", audit),
        ("/costs", costs),
        ("/jobs", jobs),
        ("/events", events),
    ]
    actions: list[tuple[str, View]] = [
        ("/tools/{name}/approve", approve),
        ("/policies/explain", explain),
        ("/audit/verify", verify_chain),
        ("/logout", login_views.logout),
    ]
    return [
        Route(f"{PREFIX}/static/{{name}}", serve_asset, methods=["GET"]),
        Route(f"{PREFIX}/login", login_form, methods=["GET"]),
        Route(f"{PREFIX}/login", login, methods=["POST"]),
        *(Route(PREFIX + path, guarded(view), methods=["GET"]) for path, view in pages),
        *(Route(PREFIX + path, guarded(view), methods=["POST"]) for path, view in actions),
    ]
