"""One MCP `tools/call`'s way back to its agent while it runs (`pipeline.relay.AgentChannel`).

Log messages ride the request's own stream (its POST's SSE response, or the stdio pipe), in
the order they were posted, all before the call's answer. Which levels go out: on 2025-11-25
sessions the level set with `logging/setLevel` (default `info`); on 2026-07-28 requests the
level in the request's `_meta` (`io.modelcontextprotocol/logLevel`) — none without it, as the
protocol says.

Sampling and elicitation requests go to the client over the same request's stream, on
2025-11-25 sessions whose client declared the capability. 2026-07-28 forbids a server to send
requests: there they are `defer`red to the multi-round-trip flow (server/mcp_input_required.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import mcp_types as types
import structlog
from mcp.server.context import ServerRequestContext
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import TypeAdapter, ValidationError

from pasarela.errors import RelayRefused
from pasarela.pipeline.relay import LEVELS, severity
from pasarela.server.mcp_progress import UNDELIVERABLE

log = structlog.get_logger("pasarela.mcp")

DEFAULT_LEVEL = "info"  # a 2025-11-25 session that never called logging/setLevel
FLUSH_LIMIT = 5.0  # seconds the answer waits for log messages still being sent
MAX_MESSAGES = 1000  # log messages passed on per call: a chatty upstream cannot flood the agent
_ELICIT_PARAMS: TypeAdapter[types.ElicitRequestParams] = TypeAdapter(types.ElicitRequestParams)


class McpAgentChannel:
    def __init__(self, ctx: ServerRequestContext[Any], session_level: str | None) -> None:
        self._ctx = ctx
        self._modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        self._floor = self._level_floor(session_level)
        self._sending: asyncio.Task[None] | None = None  # the last log message queued
        self._posted = 0
        self._followers: list[Callable[[ServerRequestContext[Any]], None]] = []
        # 2026-07-28: where requests for the agent wait for the next InputRequiredResult.
        self.defer: Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]] | None = None

    def rebind(self, ctx: ServerRequestContext[Any]) -> None:
        """A later round of the same call (2026-07-28): log messages (and progress) go on its
        stream now."""
        self._ctx = ctx
        for retarget in self._followers:
            retarget(ctx)

    def follow(self, retarget: Callable[[ServerRequestContext[Any]], None]) -> None:
        """Have `retarget` told of each later round (the call's progress notifier)."""
        self._followers.append(retarget)

    def _level_floor(self, session_level: str | None) -> int | None:
        """The least severity sent; None: nothing is."""
        if not self._modern:
            return severity(session_level or DEFAULT_LEVEL)
        asked = (self._ctx.meta or {}).get(types.LOG_LEVEL_META_KEY)
        return LEVELS.index(asked) if asked in LEVELS else None

    # -- log messages ------------------------------------------------------------------------

    def wants(self, level: str) -> bool:
        return self._floor is not None and severity(level) >= self._floor

    def post(self, level: str, data: Any, logger: str | None) -> None:
        if not self.wants(level) or self._posted > MAX_MESSAGES:
            return
        self._posted += 1
        if self._posted > MAX_MESSAGES:
            level, data, logger = (
                "warning",
                f"more than {MAX_MESSAGES} log messages for this call; the rest are dropped",
                "pasarela",
            )
        params = types.LoggingMessageNotificationParams(level=level, data=data, logger=logger)
        self._sending = asyncio.create_task(self._send(self._sending, params))

    async def _send(
        self, before: asyncio.Task[None] | None, params: types.LoggingMessageNotificationParams
    ) -> None:
        if before is not None:
            await asyncio.wait([before])  # in the order posted
        try:
            await self._ctx.session.send_notification(
                types.LoggingMessageNotification(params=params), related_request_id=self._ctx.request_id
            )
        except UNDELIVERABLE as exc:  # a client gone away must not fail the call it made
            log.debug("mcp_log_undelivered", error=f"{type(exc).__name__}: {exc}")

    async def flush(self) -> None:
        """Wait (a bounded time) for the log messages posted so far to be sent."""
        if self._sending is not None:
            await asyncio.wait([self._sending], timeout=FLUSH_LIMIT)

    # -- requests to the client --------------------------------------------------------------

    def can_ask(self, method: str) -> bool:
        session = self._ctx.session
        if self._modern and self.defer is None:
            return False
        if not self._modern and (self._ctx.request_id is None or not session.can_send_request):
            return False
        capabilities = session.client_capabilities
        if capabilities is None:
            return False
        if method == "sampling/createMessage":
            return capabilities.sampling is not None
        if method == "elicitation/create":
            return capabilities.elicitation is not None
        return False

    async def ask(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if self._modern:
            if self.defer is None:
                raise RelayRefused("this 2026-07-28 request cannot wait for the agent's input")
            return await self.defer(method, params)
        request: types.ServerRequest
        result: type[types.Result]
        try:
            if method == "sampling/createMessage":
                sampling = types.CreateMessageRequestParams.model_validate(params, by_name=False)
                request = types.CreateMessageRequest(params=sampling)
                wants_tools = sampling.tools is not None or sampling.tool_choice is not None
                result = types.CreateMessageResultWithTools if wants_tools else types.CreateMessageResult
            elif method == "elicitation/create":
                request = types.ElicitRequest(params=_ELICIT_PARAMS.validate_python(params, by_name=False))
                result = types.ElicitResult
            else:
                raise RelayRefused(f"{method!r} is not relayed to agents")
        except ValidationError as exc:
            raise RelayRefused(
                f"the upstream's {method} request is not valid MCP ({exc.error_count()} errors)"
            ) from None
        answer = await self._ctx.session.send_request(
            request, result, metadata=ServerMessageMetadata(related_request_id=self._ctx.request_id)
        )
        return answer.model_dump(by_alias=True, mode="json", exclude_none=True)
