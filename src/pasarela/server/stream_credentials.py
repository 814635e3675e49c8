"""A stream outlives no credential: a streaming response under the agent doors — REST event
streams (SSE), MCP's standalone stream, `subscriptions/listen` and long calls — ends when the
credentials that opened it no longer authenticate as the same principal.

Every request is authenticated when it arrives, but a stream may stay open for hours: an API
key removed by a reload, a token that expired, roles changed by a reload must not go on
receiving events and notifications. Before each chunk of a streaming response (one with no
`Content-Length`), the credentials are checked again when the authenticator was replaced (a
reload) or `RECHECK` seconds have passed; if they no longer name the same principal, the
response is ended there — the client sees its stream close, and reconnecting asks for
credentials again. Checks in between cost an identity comparison and a clock read.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from starlette.types import Message, Send

from pasarela.errors import AuthenticationError
from pasarela.identity import Authenticator, Principal

log = structlog.get_logger("pasarela.auth")

RECHECK = 30.0  # seconds between checks of an unchanged authenticator (a token's expiry)


class StreamCredentials:
    def __init__(
        self,
        authenticator_of: Callable[[], Authenticator],
        checked_with: Authenticator,
        authorization: str | None,
        on_behalf_of: str | None,
        principal: Principal,
    ) -> None:
        self._authenticator_of = authenticator_of
        self._checked_with = checked_with
        self._checked_at = time.monotonic()
        self._authorization = authorization
        self._on_behalf_of = on_behalf_of
        self.principal = principal

    async def still_valid(self) -> bool:
        current = self._authenticator_of()
        now = time.monotonic()
        if current is self._checked_with and now - self._checked_at < RECHECK:
            return True
        try:
            principal = await current.authenticate_request(self._authorization, self._on_behalf_of)
        except AuthenticationError:
            return False
        except Exception:  # a failure to check fails closed, as at the door
            log.exception("stream_credentials_check_crashed", principal=self.principal.id)
            return False
        if principal != self.principal:  # another principal now, or the same with other roles
            return False
        self._checked_with, self._checked_at = current, now
        return True

    def guard(self, send: Send) -> Send:
        """`send`, ending a streaming response whose credentials no longer hold."""
        streaming = False
        ended = False

        async def guarded(message: Message) -> None:
            nonlocal streaming, ended
            if ended:
                return  # the response is over for the client: what the app still sends goes nowhere
            kind = message["type"]
            if kind == "http.response.start":
                streaming = not any(
                    name.lower() == b"content-length" for name, _ in message.get("headers", ())
                )
            elif kind == "http.response.body" and streaming and not await self.still_valid():
                ended = True
                log.info("stream_ended_credentials_no_longer_valid", principal=self.principal.id)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        return guarded
