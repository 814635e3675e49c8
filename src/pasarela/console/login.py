"""Logging in with an API key (a session cookie follows) and logging out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pasarela.console.access import cross_site, csrf_refusal
from pasarela.console.core import Console, Visit
from pasarela.console.forms import read_form
from pasarela.console.render import HEADERS, plain
from pasarela.console.session import COOKIE, LOGIN_COOKIE, LOGIN_FORM_TTL, same
from pasarela.errors import AuthenticationError
from pasarela.identity.api_keys import hash_key
from pasarela.server.middleware import request_id_of

HOME = "/admin"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def login_form(console: Console, request: Request, *, status: int = 200, message: str = "") -> Response:
    nonce, cookie = console.codec.login_nonce()
    response = plain(
        console.templates,
        status,
        "Pasarela console",
        message,
        login=True,
        token=console.codec.login_token(nonce),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        max_age=int(LOGIN_FORM_TTL),
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


async def login(console: Console, request: Request) -> Response:
    form = await read_form(request)
    if isinstance(form, Response):
        return form
    nonce = console.codec.login_nonce_of(request.cookies.get(LOGIN_COOKIE))
    if cross_site(request) or nonce is None or not same(form.get("csrf"), console.codec.login_token(nonce)):
        return await login_form(console, request, status=403, message="The form expired: try again.")
    key = form.get("api_key", "").strip()
    request_id = request_id_of(request.scope)
    client = request.client.host if request.client is not None else "-"
    if await console.login_throttle.blocked(client):
        response = await login_form(
            console, request, status=429, message="Too many failed logins: wait a minute."
        )
        response.headers["Retry-After"] = "60"
        return response
    try:
        principal = console.runtime.authenticator.api_keys.authenticate_key(key)
    except AuthenticationError:
        await console.login_throttle.failed(client)
        await console.trail.record(
            "anonymous", "console_login_failed", request_id, details={"client": client}, allowed=False
        )
        return await login_form(console, request, status=401, message="That API key is not valid.")
    if console.settings.admin_role not in principal.roles:
        await console.trail.record(principal.id, "console_login_refused", request_id, allowed=False)
        return plain(
            console.templates,
            403,
            "Forbidden",
            f"{principal.id} may not use the console: it needs the {console.settings.admin_role!r} role.",
        )
    _, cookie = console.codec.issue(principal.id, hash_key(key))
    await console.trail.record(principal.id, "console_login", request_id)
    response = RedirectResponse(HOME, status_code=303, headers=HEADERS)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(console.codec.ttl),
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    return response


async def logout(visit: Visit) -> Response:
    form = await read_form(visit.request)
    if isinstance(form, Response):
        return form
    if (refused := csrf_refusal(visit, form)) is not None:
        return refused
    await visit.console.trail.record(visit.principal.id, "console_logout", visit.request_id)
    response = RedirectResponse("/admin/login", status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict")
    return response
