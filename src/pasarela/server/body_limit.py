"""Request bodies at the agent doors are bounded while they are read, never after.

A declared `Content-Length` over the limit is refused before a byte is read; otherwise the
bytes are counted as the door reads them (chunked bodies, and bodies that lie about their
length, included), and the read that crosses the limit ends the request with 413. So no
door ever holds more than the limit of one request's body.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pasarela.errors import RequestTooLarge
from pasarela.secrets import Redactor
from pasarela.server.middleware import request_id_of
from pasarela.server.problems import door_error_response


class _Exceeded(Exception):
    """Raised out of `receive` into the door that is reading; caught again below."""


def _only_exceeded(error: BaseException) -> bool:
    """True for _Exceeded, also when a task group wrapped it (possibly more than once)."""
    if isinstance(error, _Exceeded):
        return True
    if isinstance(error, BaseExceptionGroup):
        return all(_only_exceeded(inner) for inner in error.exceptions)
    return False


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, redactor: Redactor, prefixes: tuple[str, ...]
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.redactor = redactor
        self.prefixes = prefixes

    def _guarded(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = RequestTooLarge(self.max_bytes)
        await door_error_response(error, self.redactor, scope, request_id_of(scope))(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        # The server (h11/httptools) has already refused a Content-Length that is not a number.
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _Exceeded
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BaseException as exc:
            if not _only_exceeded(exc):
                raise
            if not started:  # the doors read the whole body before they answer
                await self._refuse(scope, receive, send)
