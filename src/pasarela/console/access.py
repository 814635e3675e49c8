"""Who may see the console: principals with the admin role, by bearer credential or session cookie.

Anyone else is refused before anything of the console is read or rendered: 401 (a browser is
sent to the login form) without credentials, 403 for an authenticated principal without the
role. State-changing requests also need the session's CSRF token and, when the browser says
where they come from (`Origin`, `Sec-Fetch-Site`), to come from the console itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pasarela.console.core import Console, Visit
from pasarela.console.render import HEADERS, plain
from pasarela.console.session import COOKIE, same
from pasarela.errors import AuthenticationError
from pasarela.identity import Principal
from pasarela.server.middleware import request_id_of

LOGIN_PATH = "/admin/login"
log = structlog.get_logger("pasarela.console")


async def admit(console: Console, request: Request) -> Visit | Response:
    """The visit of an admin, or the refusal to send instead."""
    authorization = request.headers.get("authorization")
    if authorization:
        try:
            # The principal itself: acting on behalf of a user is for agent doors, not the console.
            principal = await console.runtime.authenticator.authenticate(authorization)
        except AuthenticationError as exc:
            return unauthenticated(console, request, exc.detail)
        session = None
    else:
        session = console.codec.read(request.cookies.get(COOKIE))
        found = _session_principal(console, session.principal, session.key_fingerprint) if session else None
        if session is None or found is None:
            return unauthenticated(
                console, request, "log in with an API key of a principal with the admin role"
            )
        principal = found
    if console.settings.admin_role not in principal.roles:
        await console.trail.record(
            principal.id,
            "console_refused",
            request_id_of(request.scope),
            details={"path": request.url.path},
            allowed=False,
        )
        return forbidden(console, principal.id)
    return Visit(console, request, principal, session)


def _session_principal(console: Console, principal_id: str, fingerprint: str) -> Principal | None:
    """The principal a session names, if it still exists and still holds the key it logged in with."""
    keys = console.runtime.authenticator.api_keys
    principal = keys.principal(principal_id)
    if principal is None:
        return None
    if not any(same(console.codec.fingerprint(d), fingerprint) for d in keys.key_digests(principal_id)):
        return None
    return principal


def wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def unauthenticated(console: Console, request: Request, reason: str) -> Response:
    if wants_html(request):
        return RedirectResponse(LOGIN_PATH, status_code=303, headers=HEADERS)
    response = plain(console.templates, 401, "Log in", reason)
    response.headers["WWW-Authenticate"] = 'Bearer realm="pasarela-console"'
    return response


def forbidden(console: Console, principal: str) -> Response:
    log.info("console_refused", principal=principal)
    return plain(
        console.templates,
        403,
        "Forbidden",
        f"{principal} may not use the console: it needs the {console.settings.admin_role!r} role.",
    )


def cross_site(request: Request) -> bool:
    """What the browser says about where a request comes from, when it says it. Hosts are
    compared, not schemes: behind a proxy ending TLS the console itself sees http."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc != request.headers.get("host", "")


def csrf_refusal(visit: Visit, form: Mapping[str, str]) -> Response | None:
    """None when a state-changing request may proceed; else the 403 to send."""
    if visit.session is None:
        return None  # a bearer credential is never sent by a browser on its own
    if cross_site(visit.request) or not same(form.get("csrf"), visit.csrf):
        log.warning("console_csrf_refused", principal=visit.principal.id, path=visit.request.url.path)
        return plain(
            visit.console.templates,
            403,
            "Forbidden",
            "this form is out of date or did not come from the console: reload the page and try again",
        )
    return None
