"""Upstream MCP servers as a backend: federate their tools through the same pipeline.

`mcp: https://host/mcp` (Streamable HTTP) or `mcp: {command: …, args: […]}` (stdio, a
subprocess). Each upstream tool becomes `<prefix><name>` and goes through policy, limits,
audit and pinning like any other. One session per backend lives in a task of its own (the
SDK's transports must be entered and left in the same task); calls from any request use it.
A session that breaks or expires is re-established once per call before the call fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx2
import mcp_types as types
import orjson
import structlog
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.config.backends import McpBackend, McpStdioSettings
from pasarela.connectors.backend import BackendConnector
from pasarela.connectors.base import DEFAULT_INVOCATION, Invocation, SpanTarget, UpstreamResult
from pasarela.connectors.http_auth import static_headers
from pasarela.connectors.mcp_relay import UpstreamRelay
from pasarela.connectors.upstream_mcp_lost import session_broken
from pasarela.connectors.upstream_mcp_watch import UpstreamWatches
from pasarela.connectors.upstream_words import in_their_words
from pasarela.errors import ConfigError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from pasarela.secrets import Redactor

log = structlog.get_logger("pasarela.upstream_mcp")
T = TypeVar("T")
MAX_ERROR_TEXT = 2000
# What a broken or expired session looks like from the client side.
SESSION_ERRORS: tuple[type[Exception], ...] = (
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
    httpx2.TransportError,
    OSError,
)
LOAD_ERRORS: tuple[type[Exception], ...] = (TimeoutError, MCPError, *SESSION_ERRORS)
# JSON-RPC errors that say the request was wrong, not that the server is unwell.
REQUEST_ERRORS = frozenset(
    {types.PARSE_ERROR, types.INVALID_REQUEST, types.METHOD_NOT_FOUND, types.INVALID_PARAMS}
)


class _Session:
    """An MCP client session kept open by a task of its own until `close()`."""

    def __init__(self, target: Any, options: dict[str, Any], on_end: Callable[[], None]) -> None:
        self._target = target
        self._options = options
        self._on_end = on_end  # told when the session ends other than by `close()`
        self._closing = False
        self._ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        # A context of its own: opened during some call, the session must not carry that call's
        # context (its relay to the agent) into the messages it receives for later ones.
        self._task = asyncio.create_task(self._hold(), context=contextvars.Context())

    async def _hold(self) -> None:
        try:
            async with Client(self._target, **self._options) as client:
                if self._options.get("mode") in MODERN_PROTOCOL_VERSIONS:
                    # A pinned version skips server/discover, and with it what the server offers
                    # (its resources, prompts): ask for that once at that version.
                    found = await client.session.send_discover(self._options["mode"])
                    client.session.adopt(types.DiscoverResult.model_validate(found))
                self._ready.set_result(client)
                await self._stop.wait()
        except BaseException as exc:  # hand start-up failures to whoever awaits `client()`
            if not self._ready.done():
                self._ready.set_exception(_leaf(exc))
            if not isinstance(exc, Exception):
                raise
        finally:
            if not self._closing:
                self._on_end()

    async def client(self) -> Client:
        return await self._ready

    @property
    def alive(self) -> bool:
        return not self._task.done()

    async def close(self) -> None:
        self._closing = True
        self._stop.set()
        with contextlib.suppress(Exception):
            await self._task


class UpstreamMcpConnector(BackendConnector[McpBackend]):
    relays = True  # hears from its upstream mid-call: the gateway hands each call a relay to the agent

    def __init__(
        self, backend: str, settings: McpBackend, *, base_dir: Path, redactor: Redactor, source: str
    ) -> None:
        super().__init__(backend, settings, base_dir=base_dir, redactor=redactor, source=source)
        self.prefix = settings.prefix if settings.prefix is not None else f"{backend}_"
        self._session: _Session | None = None
        self._lock = asyncio.Lock()
        stdio = isinstance(settings.mcp, McpStdioSettings)
        self.relay = UpstreamRelay(backend, settings, redactor, by_context=not stdio)
        self.watches = UpstreamWatches(backend, self.request)

    def _target(self) -> Any:
        upstream = self.settings.mcp
        if isinstance(upstream, McpStdioSettings):
            cwd = Path(upstream.cwd).expanduser() if upstream.cwd else self.base_dir
            return StdioServerParameters(
                command=upstream.command,
                args=list(upstream.args),
                env={**upstream.env} if upstream.env else None,
                cwd=cwd if cwd.is_absolute() else self.base_dir / cwd,
            )
        assert isinstance(upstream, str)
        headers = {"User-Agent": "pasarela", **self.settings.headers, **self._auth_headers()}
        http = create_mcp_http_client(headers=headers)
        return streamable_http_client(upstream, http_client=http)

    def _auth_headers(self) -> dict[str, str]:
        headers = static_headers(self.settings.auth)
        if headers is None:
            raise self.config_error("auth", "upstream MCP servers take bearer, basic or a header api_key")
        return headers

    async def _client(self, *, fresh: bool = False) -> Client:
        async with self._lock:
            if fresh or self._session is None or not self._session.alive:
                if self._session is not None:
                    await self._session.close()
                    self.watches.session_ended()  # the new session holds none of the subscriptions
                options = {**self.relay.client_options(), "message_handler": self.watches.message}
                self._session = _Session(self._target(), options, self.watches.session_ended)
            session = self._session
        return await session.client()

    async def load(self) -> list[ToolSpec]:
        try:
            async with asyncio.timeout(self.settings.connect_timeout + self.settings.timeout):
                client = await self._client()
                tools: list[types.Tool] = []
                cursor: str | None = None
                while client.server_capabilities.tools is not None:  # a server may offer only content
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
        except ConfigError:
            raise
        except LOAD_ERRORS as exc:
            await self.aclose()
            raise self.config_error(
                "mcp",
                f"cannot list the upstream server's tools: {type(exc).__name__}: {self.redactor.excerpt(str(exc), 200)}",
            ) from None
        return [self._spec(tool) for tool in tools]

    def _spec(self, tool: types.Tool) -> ToolSpec:
        hints = tool.annotations
        read_only = bool(hints and hints.read_only_hint)
        return ToolSpec(
            name=f"{self.prefix}{tool.name}",
            description=tool.description or tool.title or tool.name,
            input_schema=dict(tool.input_schema),
            backend=self.backend,
            origin=tool.name,
            output_schema=dict(tool.output_schema) if tool.output_schema else None,
            annotations=ToolAnnotations(
                read_only=read_only,
                destructive=bool(hints.destructive_hint)
                if hints and hints.destructive_hint is not None
                else not read_only,
                idempotent=bool(hints and hints.idempotent_hint) or read_only,
                open_world=bool(hints.open_world_hint)
                if hints and hints.open_world_hint is not None
                else True,
            ),
            tags=("mcp",),
        )

    def span_target(self, tool: ToolSpec) -> SpanTarget:
        """MCP client conventions (the tool as the upstream server names it)."""
        stdio = isinstance(self.settings.mcp, McpStdioSettings)
        return SpanTarget(
            f"tools/call {tool.origin}",
            attributes={
                "mcp.method.name": "tools/call",
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool.origin,
                "network.transport": "pipe" if stdio else "tcp",
            },
        )

    async def invoke(
        self,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        invocation: Invocation = DEFAULT_INVOCATION,
    ) -> UpstreamResult:
        limit = self.time_limit(invocation)
        # MCP carries the W3C trace context in the request's `_meta` (SEP-414).
        meta: Any = dict(invocation.headers) or None
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(limit):
                    client = await self._client(fresh=attempt == 2)
                    with self.relay.calling(invocation.relay):
                        result = await client.call_tool(
                            tool.origin, dict(arguments), progress_callback=_relay(invocation), meta=meta
                        )
                break
            except TimeoutError:
                raise UpstreamTimeout(
                    f"{self.backend} did not answer {tool.name} within {limit:g}s", backend=self.backend
                ) from None
            except MCPError as exc:
                if not session_broken(exc):
                    raise self._refusal(tool, exc) from None
                if attempt == 2:
                    raise UpstreamUnavailable(
                        f"the session with {self.backend} failed ({exc.error.message})", backend=self.backend
                    ) from None
                log.info("upstream_mcp_reconnect", backend=self.backend, error=exc.error.message)
            except SESSION_ERRORS as exc:
                if attempt == 2:
                    raise UpstreamUnavailable(
                        f"the session with {self.backend} failed ({type(exc).__name__})", backend=self.backend
                    ) from None
                log.info("upstream_mcp_reconnect", backend=self.backend, error=type(exc).__name__)
        if result.is_error:
            text = _text(result)
            raise UpstreamError(
                in_their_words(
                    text.strip(), f"{self.backend} reported an error from {tool.origin}", self.redactor
                ),
                backend=self.backend,
                upstream_body=self.redactor.excerpt(text, MAX_ERROR_TEXT),
            )
        data = _data(result)
        if isinstance(data, list) and data is not result.structured_content:
            # Content blocks beyond one text (images, audio, resources): the MCP door gives
            # them back as the upstream sent them; REST agents get the same blocks as JSON.
            return UpstreamResult(data, meta={"format": MCP_CONTENT})
        return UpstreamResult(data)

    def _refusal(self, tool: ToolSpec, exc: MCPError) -> UpstreamError:
        """An ordinary JSON-RPC error: the session is fine, so no reconnect; a refused request
        does not count against the backend's breaker."""
        return UpstreamError(
            in_their_words(exc.error.message, f"{self.backend} refused {tool.origin}", self.redactor),
            backend=self.backend,
            upstream_code=exc.error.code,
            request_refused=exc.error.code in REQUEST_ERRORS,
        )

    async def request(self, what: str, operation: Callable[[Client], Awaitable[T]]) -> T:
        """Another request than a tool call (resources, prompts, completions) on the same
        session, re-established once if it broke; refusals and failures as a call's
        (connectors/upstream_mcp_content.py)."""
        limit = self.settings.timeout
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(limit):
                    return await operation(await self._client(fresh=attempt == 2))
            except TimeoutError:
                raise UpstreamTimeout(
                    f"{self.backend} did not answer {what} within {limit:g}s", backend=self.backend
                ) from None
            except MCPError as exc:
                if not session_broken(exc) or attempt == 2:
                    raise UpstreamError(
                        in_their_words(exc.error.message, f"{self.backend} refused {what}", self.redactor),
                        backend=self.backend,
                        upstream_code=exc.error.code,
                        request_refused=exc.error.code in REQUEST_ERRORS,
                    ) from None
            except SESSION_ERRORS as exc:
                if attempt == 2:
                    raise UpstreamUnavailable(
                        f"the session with {self.backend} failed ({type(exc).__name__})", backend=self.backend
                    ) from None
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self.watches.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None


def _relay(invocation: Invocation) -> Any:
    """The upstream's progress notifications, passed on to whoever waits for this call (a job,
    an MCP client with a progress token); None when no one does."""
    report = invocation.progress
    if report is None:
        return None

    async def relay(progress: float, total: float | None, message: str | None) -> None:
        await report(progress / total if total else None, message)

    return relay


def _leaf(exc: BaseException) -> BaseException:
    """The one real failure inside the SDK's task-group wrappers."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


MCP_CONTENT = "mcp_content"  # meta.format of a result that is a list of MCP content blocks


def _text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _data(result: types.CallToolResult) -> Any:
    """Structured content when the server gives it, else its text (JSON when it parses)."""
    if result.structured_content is not None:
        return result.structured_content
    text = _text(result)
    if text and len(result.content) == 1:
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(text)
        return text
    return [block.model_dump(mode="json", exclude_none=True) for block in result.content]
