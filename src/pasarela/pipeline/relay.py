"""The agent's side of a call while it runs: what the gateway tells it, and what an upstream asks it.

A door that can reach its agent during a call (an MCP session: log notifications on the way,
requests back to its client) opens an `AgentChannel` around `Gateway.call` (`agent_channel()`).
Inside the call:

- any stage may `notice(level, message)` — "served stale from cache", "retrying after 503" —
  and the agent's client hears it as a log message if it listens at that level;
- the gateway hands each backend call a `CallRelay` (`Invocation.relay`), through which an
  upstream MCP server's log messages reach the agent, and its sampling and elicitation
  requests are decided by policy (`Action::"sample"`, `Action::"elicit"`), audited, and
  relayed to the agent's client.

Doors with no way back to the agent (REST, a job's run) open no channel: notices are dropped
and an upstream's requests are refused. Nothing here knows MCP's types: the channel carries
JSON (the door translates).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, Protocol

import structlog

from pasarela.errors import RelayRefused
from pasarela.identity.principal import Principal
from pasarela.pipeline.authorize import Authorizer
from pasarela.pipeline.call import Call

log = structlog.get_logger("pasarela.relay")

# RFC 5424 severities, as MCP's `logging/setLevel` names them, least severe first.
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
Level = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
# What an upstream may ask of the agent, and the Cedar action that decides it.
ASKS = {"sampling/createMessage": "sample", "elicitation/create": "elicit"}
GATEWAY_LOGGER = "pasarela"
MAX_ASKS = 50  # requests one backend call may put to the agent: an upstream cannot pester it without end


def severity(level: str) -> int:
    """A level's rank (unknown levels rank as `info`: never dropped for being unrecognised)."""
    return LEVELS.index(level) if level in LEVELS else 1


class AgentChannel(Protocol):
    """One call's way back to its agent, provided by the door."""

    def wants(self, level: str) -> bool:
        """Would the agent's client take a log message at `level`?"""
        ...

    def post(self, level: str, data: Any, logger: str | None) -> None:
        """Queue a log message for the agent (sent in order, before the call's answer)."""
        ...

    def can_ask(self, method: str) -> bool:
        """Can this agent's client answer `method` (it declared the capability, and the door
        has a way to ask it)?"""
        ...

    async def ask(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Put `method` to the agent's client and return its answer (raises `RelayRefused`, or
        the door's own error, when it cannot or the client refuses)."""
        ...


_channel: ContextVar[AgentChannel | None] = ContextVar("pasarela_agent_channel", default=None)


@contextmanager
def agent_channel(channel: AgentChannel) -> Iterator[AgentChannel]:
    """Calls made inside this block (and their child calls) reach the agent through `channel`."""
    token = _channel.set(channel)
    try:
        yield channel
    finally:
        _channel.reset(token)


def current_channel() -> AgentChannel | None:
    return _channel.get()


def notice(level: Level, message: str) -> None:
    """Tell the calling agent something about its call, if it listens at `level` (no-op otherwise)."""
    channel = _channel.get()
    if channel is not None and channel.wants(level):
        channel.post(level, message, GATEWAY_LOGGER)


class Decide(Protocol):
    """Policy for one relayed request: may this call's principal be asked `action`?"""

    def __call__(self, action: str) -> tuple[bool, str]: ...


# (what happened, e.g. "sampling_relayed", and the request summary recorded in the trail)
AuditRelay = Callable[[str, Mapping[str, Any]], None]


class CallRelay:
    """What a backend call may send the agent: log messages, and requests decided by policy.

    Built per backend call by the gateway; the connector knows only these two methods.
    """

    def __init__(self, backend: str, channel: AgentChannel | None, decide: Decide, audit: AuditRelay) -> None:
        self.backend = backend
        self._channel = channel
        self._decide = decide
        self._audit = audit
        self._asked = 0

    def wants(self, level: str) -> bool:
        return self._channel is not None and self._channel.wants(level)

    def log(self, level: str, data: Any, logger: str | None) -> None:
        """An upstream's log message, under the logger `<backend>` or `<backend>/<its logger>`."""
        if self._channel is not None and self._channel.wants(level):
            name = self.backend if not logger else f"{self.backend}/{logger}"
            self._channel.post(level if level in LEVELS else "info", data, name)

    async def ask(self, method: str, params: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
        """Relay `method` to the agent's client; `summary` is what the audit trail records of it."""
        kind = "sampling" if method.startswith("sampling/") else "elicitation"
        action = ASKS.get(method)
        if action is None:
            raise RelayRefused(f"{self.backend} asked for {method!r}, which the gateway does not relay")
        self._asked += 1
        if self._asked > MAX_ASKS:
            self._audit(f"{kind}_denied", summary)
            raise RelayRefused(f"{self.backend} asked the agent more than {MAX_ASKS} times during one call")
        allowed, why = self._decide(action)
        if not allowed:
            self._audit(f"{kind}_denied", summary)
            raise RelayRefused(f"policy does not let {self.backend} ask the agent for {kind}: {why}")
        if self._channel is None or not self._channel.can_ask(method):
            self._audit(f"{kind}_unavailable", summary)
            raise RelayRefused(
                f"the agent's client cannot be asked for {kind} (it did not declare the capability, or "
                "its door has no way back to it)"
            )
        try:
            answer = await self._channel.ask(method, params)
        except BaseException:
            self._audit(f"{kind}_failed", summary)
            raise
        self._audit(f"{kind}_relayed", summary)
        return answer


class AuditEvent(Protocol):
    """The audit stage's `event` (audit/stage.py), as the gateway finds it."""

    def __call__(
        self,
        principal: Principal,
        tool: str,
        door: str,
        request_id: str,
        *,
        parent_id: str,
        outcome: str,
        via: str = ...,
        details: Mapping[str, Any] | None = ...,
    ) -> None: ...


def relay_for(call: Call, authorizer: Authorizer, audit: AuditEvent | None) -> CallRelay:
    """The relay of one backend call: decided as `call`'s principal, recorded under `call`."""
    asked = itertools.count(1)

    def decide(action: str) -> tuple[bool, str]:
        decision = authorizer.decide(call, action)
        why = (
            "; ".join(decision.reasons)
            or ", ".join(p.label for p in decision.policies)
            or "no policy permits it"
        )
        return decision.allowed, why

    def record(outcome: str, summary: Mapping[str, Any]) -> None:
        log.info("upstream_request_relay", request_id=call.request_id, tool=call.tool.name, outcome=outcome)
        if audit is not None:
            audit(
                call.principal,
                call.tool.name,
                call.door,
                f"{call.request_id}-{outcome}-{next(asked)}",
                parent_id=call.request_id,
                outcome=outcome,
                via="upstream",
                details=summary,
            )

    return CallRelay(call.tool.backend, current_channel(), decide, record)
