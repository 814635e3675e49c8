"""ASGI middleware: a request id for every request, and authentication for the agent doors."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import structlog
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pasarela.errors import AuthenticationError
from pasarela.identity import Authenticator, Principal
from pasarela.secrets import Redactor
from pasarela.server.problems import door_error_response
from pasarela.server.stream_credentials import StreamCredentials

PRINCIPAL_KEY = "pasarela.principal"
REQUEST_ID_KEY = "pasarela.request_id"
REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

log = structlog.get_logger("pasarela.auth")


def request_id_of(scope: Scope) -> str:
    return str(scope.get(REQUEST_ID_KEY) or "")


def principal_of(scope: Scope) -> Principal:
    principal = scope.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):  # only reachable if a route skipped the middleware
        raise AuthenticationError("this request was not authenticated")
    return principal


class RequestIdMiddleware:
    """Take a caller's `X-Request-Id` if it is safe to log, else make one; echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = offered if _SAFE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        scope[REQUEST_ID_KEY] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)


class AuthenticateMiddleware:
    """Authenticate requests under the agent doors; everything else passes untouched.

    The inbound credential stops here: only the Principal travels on, so nothing a caller
    sends as a credential can ever be forwarded to a backend.
    """

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Callable[[], Authenticator],
        redactor: Redactor,
        prefixes: tuple[str, ...],
        exempt: Callable[[Scope], bool] | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator  # the current one: a reload may replace it
        self.redactor = redactor
        self.prefixes = prefixes
        # Requests under the prefixes that prove who sent them another way (events pushed by a
        # system carry its signature, checked by the route): no agent credential is asked.
        self.exempt = exempt

    async def _refuse(self, error: AuthenticationError, scope: Scope, receive: Receive, send: Send) -> None:
        response = door_error_response(error, self.redactor, scope, request_id_of(scope))
        await response(scope, receive, send)

    def _protected(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self._protected(scope["path"])
            or (self.exempt is not None and self.exempt(scope))
        ):
            await self.app(scope, receive, send)
            return
        try:
            headers = Headers(scope=scope)
            authenticator = self.authenticator()
            authorization = headers.get("authorization")
            on_behalf_of = headers.get(authenticator.on_behalf_of_header)
            principal = await authenticator.authenticate_request(authorization, on_behalf_of)
        except AuthenticationError as exc:
            log.info("authentication_failed", path=scope["path"], reason=exc.detail)
            await self._refuse(exc, scope, receive, send)
            return
        except Exception:  # a bug while checking credentials still fails closed, never a 500
            log.exception("authentication_crashed", path=scope["path"])
            error = AuthenticationError("the credentials could not be verified")
            await self._refuse(error, scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = principal
        # The MCP SDK binds each session to the identity in scope["user"]: a session opened by
        # one principal answers 404 to any other.
        scope["user"] = AuthenticatedUser(
            AccessToken(token=principal.id, client_id=principal.id, scopes=[], subject=principal.id)
        )
        user = principal.on_behalf_of.id if principal.on_behalf_of else None
        credentials = StreamCredentials(
            self.authenticator, authenticator, authorization, on_behalf_of, principal
        )
        with structlog.contextvars.bound_contextvars(principal=principal.id, on_behalf_of=user):
            await self.app(scope, receive, credentials.guard(send))
