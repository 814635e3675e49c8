"""The A2A connector: a remote agent, described by its agent card, as one tool that asks it.

The card is read when the gateway loads (from the agent, or a file); its interfaces say where
messages go (JSON-RPC or HTTP+JSON, through a2a-sdk's client over one pooled httpx client per
backend, with the gateway's own credential), its security schemes are checked against `auth:`,
and the whole card is pinned with the tool. A call sends one message and follows the task it
may start to its end (follow.py); states and protocol errors become problem documents
(errors.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
from google.protobuf.json_format import ParseError

from a2a.client import Client, ClientCallContext, ClientConfig, ClientFactory
from a2a.types import AgentCard, TaskState
from a2a.utils.errors import A2AError
from pasarela.catalog.naming import sanitize_tool_name
from pasarela.catalog.spec import ToolSpec
from pasarela.config.backends import A2aBackend
from pasarela.connectors.a2a.card import (
    BINDINGS,
    CardProblem,
    CardSource,
    card_digest,
    fetch_card,
    parse_card,
    reachable,
)
from pasarela.connectors.a2a.errors import ErrorMapper
from pasarela.connectors.a2a.follow import TERMINAL, Follower, Tracked
from pasarela.connectors.a2a.health import CardProbe
from pasarela.connectors.a2a.messages import answer_from_message, answer_from_task, request_for, text_of
from pasarela.connectors.a2a.security import credential_problem
from pasarela.connectors.a2a.tools import agent_tool
from pasarela.connectors.backend import BackendConnector
from pasarela.connectors.base import (
    DEFAULT_INVOCATION,
    BackendHealth,
    Invocation,
    SpanTarget,
    UpstreamResult,
)
from pasarela.connectors.http_auth import static_headers
from pasarela.secrets import Redactor

# Set by the gateway or by HTTP itself: a call's own headers never replace them.
OWNED_HEADERS = ("authorization", "cookie", "host", "content-type", "content-length", "a2a-version")
# What the SDK raises besides its own errors when an answer is not A2A.
PROTOCOL_ERRORS: tuple[type[Exception], ...] = (A2AError, httpx.HTTPError, ValueError, KeyError, ParseError)


class A2aConnector(BackendConnector[A2aBackend]):
    def __init__(
        self, backend: str, settings: A2aBackend, *, base_dir: Path, redactor: Redactor, source: str
    ) -> None:
        super().__init__(backend, settings, base_dir=base_dir, redactor=redactor, source=source)
        self.card_source = CardSource.of(settings.a2a, base_dir)
        self.tool_name = settings.tool or sanitize_tool_name(f"ask_{backend}")
        self.errors = ErrorMapper(backend, redactor)
        self.card: AgentCard | None = None
        self._http: httpx.AsyncClient | None = None
        self._client: Client | None = None
        self._follower: Follower | None = None
        self._probe: CardProbe | None = None
        auth = settings.auth.api_key.header if settings.auth and settings.auth.api_key else None
        self._owned = frozenset(
            name.lower() for name in [*OWNED_HEADERS, *settings.headers, *([auth] if auth else [])]
        )

    # -- loading ---------------------------------------------------------------------------

    def _open_http(self) -> httpx.AsyncClient:
        s = self.settings
        headers = static_headers(s.auth) or {}
        return httpx.AsyncClient(
            headers={"User-Agent": "pasarela", **s.headers, **headers},
            timeout=httpx.Timeout(s.timeout, connect=s.connect_timeout),
            limits=httpx.Limits(max_connections=s.max_connections),
            follow_redirects=False,
            trust_env=False,  # no proxies or ~/.netrc from the environment
        )

    async def load(self) -> list[ToolSpec]:
        if self._http is None:
            self._http = self._open_http()
        try:
            return self._load(await self._read_card(self._http), self._http)
        except BaseException:
            await self.aclose()
            raise

    async def _read_card(self, http: httpx.AsyncClient) -> AgentCard:
        try:
            data = await fetch_card(
                self.card_source, http, self.settings.connect_timeout + self.settings.timeout
            )
            return parse_card(data, self.redactor)
        except CardProblem as exc:
            raise self.config_error("a2a", str(exc)) from None

    def _load(self, card: AgentCard, http: httpx.AsyncClient) -> list[ToolSpec]:
        s = self.settings
        try:
            served = reachable(card, self.card_source, s.base_url)
            tool = agent_tool(card, self.tool_name, self.backend, s.max_message_length)
        except CardProblem as exc:
            raise self.config_error("a2a", str(exc)) from None
        if (problem := credential_problem(card, s.auth)) is not None:
            raise self.config_error("auth", problem)
        if s.streaming and not card.capabilities.streaming:
            raise self.config_error(
                "streaming", "the agent card says the agent does not stream (capabilities)"
            )
        streaming = card.capabilities.streaming if s.streaming is None else s.streaming
        config = ClientConfig(
            httpx_client=http,
            streaming=streaming,
            polling=not streaming,  # without a stream, the task comes back at once and is asked for
            supported_protocol_bindings=list(BINDINGS),
        )
        try:
            self._client = ClientFactory(config).create(served)
        except ValueError as exc:
            raise self.config_error("a2a", f"no client for this agent: {exc}") from None
        self.card = card
        self._follower = Follower(self._client, self.backend, s.poll_interval)
        if s.health_check.enabled:
            self._probe = CardProbe(self.card_source, http, s.health_check, card_digest(card), self.redactor)
        return [tool]

    def span_target(self, tool: ToolSpec) -> SpanTarget:
        """The GenAI conventions' remote agent invocation."""
        name = self.card.name if self.card is not None else self.backend
        interfaces = self.card.supported_interfaces if self.card is not None else []
        host = urlsplit(interfaces[0].url).hostname if interfaces else None
        attributes: dict[str, str | int | bool] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
        }
        if host:
            attributes["server.address"] = host
        return SpanTarget(f"invoke_agent {name}", attributes=attributes)

    # -- calling ---------------------------------------------------------------------------

    async def invoke(
        self,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        invocation: Invocation = DEFAULT_INVOCATION,
    ) -> UpstreamResult:
        assert self._follower is not None, "load() must run before invoke()"
        limit = self.time_limit(invocation)
        deadline = time.monotonic() + limit
        # Trace context and the idempotency key ride along; never over the gateway's own headers.
        headers = {k: v for k, v in invocation.headers.items() if k.lower() not in self._owned}

        def context() -> ClientCallContext:
            return ClientCallContext(
                timeout=max(deadline - time.monotonic(), 0.001), service_parameters=dict(headers)
            )

        request = request_for(arguments, self.backend, invocation.idempotency_key)
        tracked = Tracked()
        settled = False
        try:
            try:
                with anyio.fail_after(limit):
                    await self._follower.run(request, tracked, context, invocation.progress)
            except TimeoutError:
                raise self.errors.timeout(tool.name, limit, _task_id(tracked)) from None
            except PROTOCOL_ERRORS as exc:
                raise self.errors.protocol(tool.name, exc, limit, _task_id(tracked)) from None
            settled = tracked.task is None or tracked.state in TERMINAL
        finally:
            if not settled and (task_id := _task_id(tracked)) is not None:
                await self._follower.cancel(task_id, headers)
        return self._answer(tool, tracked)

    def _answer(self, tool: ToolSpec, tracked: Tracked) -> UpstreamResult:
        if tracked.message is not None:
            return UpstreamResult(answer_from_message(tracked.message))
        task = tracked.task
        assert task is not None
        if task.status.state == TaskState.TASK_STATE_COMPLETED:
            return UpstreamResult(answer_from_task(task))
        raise self.errors.unfinished(
            tool.name, task.status.state, text_of(task.status.message.parts), task.id
        )

    async def health(self) -> BackendHealth | None:
        return None if self._probe is None else await self._probe.health()

    async def aclose(self) -> None:
        client, http = self._client, self._http
        self._client = self._http = None
        self._follower = self._probe = None
        if client is not None:
            await client.close()  # the shared httpx client is left to us
        if http is not None:
            await http.aclose()


def _task_id(tracked: Tracked) -> str | None:
    return tracked.task.id if tracked.task is not None and tracked.task.id else None
