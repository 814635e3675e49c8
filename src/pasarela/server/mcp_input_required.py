"""Sampling and elicitation for 2026-07-28 agents: the multi-round-trip ("input required") flow.

2026-07-28 forbids a server to send its client requests. When an upstream asks for sampling or
elicitation during a 2026-07-28 `tools/call`, the gateway keeps the call running (held), and
answers the agent `InputRequiredResult`: the upstream's requests, and a `requestState` naming
the held call. The agent's client fulfils them and calls the tool again with `inputResponses`
and that `requestState`; the gateway hands the answers to the upstream, and waits again: for
the call's result, or the upstream's next request.

The `requestState` is a random token bound to the principal and the tool; a held call that
the agent does not come back for within `HOLD_SECONDS` is cancelled (and audited so). Held
calls live in the process that started them: under `serve --workers N` a retry that reaches
another worker is told to call the tool again from the start.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
import structlog
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError

from pasarela.errors import RelayRefused
from pasarela.identity.principal import Principal
from pasarela.pipeline.relay import agent_channel
from pasarela.server.mcp_channel import McpAgentChannel

log = structlog.get_logger("pasarela.mcp")

HOLD_SECONDS = 300.0  # a held call the agent does not come back for is cancelled after this
MAX_HELD_PER_PRINCIPAL = 16


@dataclass(eq=False)
class _Held:
    principal: str
    tool: str
    channel: McpAgentChannel
    task: asyncio.Task[HandlerResult] | None = None
    asked: dict[str, tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = field(default_factory=dict)
    sent: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    expiry: asyncio.TimerHandle | None = None

    async def ask(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """The channel's `ask` on 2026-07-28: queued for the next `InputRequiredResult`."""
        key = f"{'sampling' if method.startswith('sampling/') else 'elicitation'}-{next(self.numbers)}"
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.asked[key] = ({"method": method, "params": dict(params)}, answer)
        self.changed.set()
        return await answer


class InputRequired:
    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}

    async def start(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext, principal: Principal
    ) -> HandlerResult:
        """A 2026-07-28 `tools/call` on its first round."""
        channel = McpAgentChannel(ctx, None)
        name = ctx.params.get("name") if isinstance(ctx.params, Mapping) else None  # not validated yet
        held = _Held(principal.id, str(name), channel)
        if sum(1 for h in self._held.values() if h.principal == principal.id) < MAX_HELD_PER_PRINCIPAL:
            channel.defer = held.ask

        async def call() -> HandlerResult:
            return await call_next(ctx)

        with agent_channel(channel):  # the task's context carries the channel
            held.task = asyncio.create_task(call())
        return await self._next_round(held)

    async def resume(
        self, ctx: ServerRequestContext[Any, Any], token: str, principal: Principal
    ) -> HandlerResult:
        """A retry carrying `requestState` and the agent's `inputResponses`."""
        held = self._held.get(token)
        params = ctx.params if isinstance(ctx.params, Mapping) else {}
        if held is None or held.principal != principal.id or held.tool != params.get("name"):
            raise MCPError(
                types.INVALID_PARAMS,
                "requestState names no call waiting for input here (it finished, expired after "
                f"{HOLD_SECONDS:g}s, or was started on another gateway process): call the tool again",
            )
        del self._held[token]
        if held.expiry is not None:
            held.expiry.cancel()
        responses = params.get("inputResponses")
        responses = responses if isinstance(responses, Mapping) else {}
        for key, answer in held.sent.items():
            given = responses.get(key)
            if answer.done():  # the call stopped waiting (it ended, or was cancelled)
                continue
            if isinstance(given, Mapping):
                answer.set_result(dict(given))
            else:
                answer.set_exception(RelayRefused(f"the agent's client gave no answer for {key}"))
        held.sent.clear()
        held.channel.rebind(ctx)  # log messages now ride this request's stream
        return await self._next_round(held)

    async def _next_round(self, held: _Held) -> HandlerResult:
        """Wait for the call's answer, or for the upstream to ask the agent something."""
        task = held.task
        assert task is not None
        try:
            while not task.done() and not held.asked:
                held.changed.clear()
                waiter = asyncio.ensure_future(held.changed.wait())
                try:
                    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
        except asyncio.CancelledError:  # the agent gave up on this round: the call ends too
            task.cancel()
            raise
        if task.done():
            await held.channel.flush()
            return task.result()
        return self._hold(held)

    def _hold(self, held: _Held) -> types.InputRequiredResult:
        token = secrets.token_urlsafe(24)
        requests: dict[str, Any] = {}
        for key, (request, answer) in held.asked.items():
            requests[key] = request
            held.sent[key] = answer
        held.asked.clear()
        self._held[token] = held
        held.expiry = asyncio.get_running_loop().call_later(HOLD_SECONDS, self._expire, token)
        return types.InputRequiredResult.model_validate(
            {"inputRequests": requests, "requestState": token}, by_name=False
        )

    def _expire(self, token: str) -> None:
        held = self._held.pop(token, None)
        if held is not None and held.task is not None:
            log.info("mcp_input_required_expired", tool=held.tool)
            held.task.cancel()
