"""An upstream MCP server's messages to the gateway (its client) during a call, passed on to the
agent that made the call.

The gateway holds one session per upstream, shared by every call; what the upstream sends
mid-call — `notifications/message`, `sampling/createMessage`, `elicitation/create` — must reach
the agent whose call caused it. Over Streamable HTTP the SDK's client runs each such message in
the context of the request it rides on (its POST's response stream), so the call's relay is
found in a context variable set around the upstream call. Over stdio the pipe carries no such
link: a message is attributed to the one call in flight, and refused (or, for a log message,
kept in the gateway's own log) when several are.

What the upstream may ask is the backend's to allow (`allow_sampling`, `allow_elicitation`,
default off) and then the policy's (`Action::"sample"`, `Action::"elicit"`), decided and
audited by the relay (`pipeline/relay.py`). Anything refused goes back to the upstream as a
JSON-RPC error.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import mcp_types as types
import structlog
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from pasarela.config.backends import McpBackend
from pasarela.errors import PasarelaError
from pasarela.pipeline.relay import CallRelay
from pasarela.secrets import Redactor

log = structlog.get_logger("pasarela.upstream_mcp")

_relay: ContextVar[CallRelay | None] = ContextVar("pasarela_upstream_relay", default=None)
SAMPLING = "sampling/createMessage"
ELICITATION = "elicitation/create"
# A refusal, in JSON-RPC terms: the request is one this client will not serve.
REFUSED = types.INVALID_REQUEST
ResultT = TypeVar("ResultT", bound=types.Result)


class UpstreamRelay:
    """The SDK client callbacks of one upstream MCP backend, routed to the calls in flight."""

    def __init__(self, backend: str, settings: McpBackend, redactor: Redactor, *, by_context: bool) -> None:
        self.backend = backend
        self.settings = settings
        self.redactor = redactor
        self._by_context = by_context  # False over stdio: no message is linked to its request
        self._in_flight: dict[int, CallRelay] = {}
        self._numbers = itertools.count()

    def client_options(self) -> dict[str, Any]:
        """The `Client(...)` arguments: the protocol version, and callbacks (capabilities are
        declared only for what the backend allows)."""
        protocol = self.settings.protocol
        options: dict[str, Any] = {
            "logging_callback": self._log,
            "mode": "legacy" if protocol == "2025-11-25" else protocol,
        }
        if self.settings.relay_logs:
            # 2026-07-28 servers send log messages only to requests that opt in; the agent's own
            # level is applied when each message is passed on.
            options["log_level"] = "debug"
        if self.settings.allow_sampling:
            options["sampling_callback"] = self._sample
        if self.settings.allow_elicitation:
            options["elicitation_callback"] = self._elicit
        return options

    @contextmanager
    def calling(self, relay: CallRelay | None) -> Iterator[None]:
        """Around one upstream call: what the upstream sends meanwhile goes to `relay`."""
        if relay is None:
            yield
            return
        number = next(self._numbers)
        self._in_flight[number] = relay
        token = _relay.set(relay)
        try:
            yield
        finally:
            _relay.reset(token)
            del self._in_flight[number]

    def _current(self) -> CallRelay | None:
        found = _relay.get()
        if found is not None or self._by_context:
            return found
        if len(self._in_flight) == 1:  # stdio: only one call it can be about
            return next(iter(self._in_flight.values()))
        return None

    async def _log(self, params: types.LoggingMessageNotificationParams) -> None:
        data = self.redactor.scrub(params.data)
        relay = self._current() if self.settings.relay_logs else None
        if relay is None or not relay.wants(params.level):
            log.debug(
                "upstream_log", backend=self.backend, level=params.level, logger=params.logger, data=data
            )
            return
        relay.log(params.level, data, params.logger)

    async def _sample(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        summary = {
            "method": SAMPLING,
            "messages": len(params.messages),
            "max_tokens": params.max_tokens,
            "tools": len(params.tools or ()),
        }
        # `includeContext` would have the agent's client add what it holds from the gateway's
        # session — other systems' answers — to a prompt this upstream reads: never passed on.
        params = params.model_copy(update={"include_context": None})
        answer = await self._ask(SAMPLING, params, summary)
        if isinstance(answer, types.ErrorData):
            return answer
        if params.tools or params.tool_choice:
            return self._valid(types.CreateMessageResultWithTools, answer)
        return self._valid(types.CreateMessageResult, answer)

    async def _elicit(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        mode = "url" if isinstance(params, types.ElicitRequestURLParams) else "form"
        answer = await self._ask(ELICITATION, params, {"method": ELICITATION, "mode": mode})
        if isinstance(answer, types.ErrorData):
            return answer
        return self._valid(types.ElicitResult, answer)

    async def _ask(
        self, method: str, params: types.RequestParams, summary: Mapping[str, Any]
    ) -> dict[str, Any] | types.ErrorData:
        relay = self._current()
        if relay is None:
            log.info("upstream_request_unrouted", backend=self.backend, method=method)
            return types.ErrorData(
                code=REFUSED,
                message=f"{method} is answered only during a call from an agent that can be asked "
                "(and, over stdio, while that call is the only one in flight)",
            )
        wire = self.redactor.scrub(params.model_dump(by_alias=True, mode="json", exclude_none=True))
        try:
            return await relay.ask(method, wire, summary)
        except MCPError as exc:  # the agent's client said no: its words go back upstream
            return exc.error
        except PasarelaError as exc:
            return types.ErrorData(code=REFUSED, message=self.redactor.redact(exc.detail))

    def _valid(self, model: type[ResultT], answer: dict[str, Any]) -> ResultT | types.ErrorData:
        try:
            return model.model_validate(answer, by_name=False)
        except ValidationError as exc:
            log.warning("agent_answer_invalid", backend=self.backend, errors=exc.error_count())
            return types.ErrorData(
                code=types.INTERNAL_ERROR, message="the agent's client answered in a shape MCP does not allow"
            )
