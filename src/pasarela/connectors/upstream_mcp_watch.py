"""Agents' subscriptions to an upstream MCP server's resources, made once per URI upstream.

Every agent that follows a federated resource is a listener here; the upstream hears of the
URI once, whoever and however many follow it (`resources/subscribe` to a 2025-11-25 server, one
`subscriptions/listen` stream naming every followed URI to a 2026-07-28 one), and is told to
stop when the last listener leaves. What the upstream says changed is handed to the listeners
of that URI, who decide which agents may still hear of it (server/mcp_resource_follow.py).

A new session with the upstream (it broke, expired, or its process was restarted) is followed
by the subscriptions again; a session that ends while URIs are followed is re-opened with
backoff. An update sent while no session was open is not replayed (MCP has no replay): an agent
that must not miss one reads the resource again when told.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
import structlog
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.client.subscriptions import ResourceUpdated, SubscriptionLost
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from pasarela.connectors.upstream_mcp_lost import session_broken
from pasarela.errors import InvalidRequest, PasarelaError, UpstreamError

log = structlog.get_logger("pasarela.upstream_mcp")

Listener = Callable[[str], None]  # told the URI that changed; must not block
Request = Callable[[str, Callable[[Client], Awaitable[Any]]], Awaitable[Any]]
ACK_TIMEOUT = 10.0  # seconds a 2026-07-28 upstream has to acknowledge a listen stream
BACKOFF = (1.0, 2.0, 5.0, 15.0, 30.0)  # between attempts to re-open a lost session or stream
HEARTBEAT = 15.0  # seconds between pings of an upstream while its resources are followed
MAX_FOLLOWED = 1024  # URIs of one upstream followed at once (a 2026-07-28 stream names them all)


class UpstreamWatches:
    def __init__(self, backend: str, request: Request) -> None:
        self.backend = backend
        self._request = request  # the connector's: on its session, re-established once if broken
        self._listeners: dict[str, set[Listener]] = {}
        self._lock = asyncio.Lock()
        self._made_on: Client | None = None  # the session the upstream subscriptions live on
        self._made: set[str] = set()  # 2025-11-25: URIs subscribed upstream on that session
        self._stream: asyncio.Task[None] | None = None  # 2026-07-28: the listen stream's task
        self._streaming: frozenset[str] = frozenset()
        self._honored: frozenset[str] = frozenset()
        self._reviving: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def followed(self) -> frozenset[str]:
        return frozenset(self._listeners)

    # -- what the agents' side asks ------------------------------------------------------------

    async def watch(self, uri: str, listener: Listener) -> None:
        """Tell `listener` when `uri` changes; raises the upstream's refusal as an UpstreamError."""
        fresh = uri not in self._listeners
        if fresh and len(self._listeners) >= MAX_FOLLOWED:
            raise InvalidRequest(
                f"the gateway follows at most {MAX_FOLLOWED} of {self.backend}'s resources at once; "
                "unsubscribe from one first"
            )
        self._listeners.setdefault(uri, set()).add(listener)
        if not fresh:
            return
        try:
            await self._sync(uri)
            self._keep()
            if self._stream is not None and uri not in self._honored:
                raise UpstreamError(
                    f"{self.backend} does not offer updates of {uri[:200]}", backend=self.backend
                )
        except BaseException:
            await self.unwatch(uri, listener)
            raise

    async def unwatch(self, uri: str, listener: Listener) -> None:
        listeners = self._listeners.get(uri)
        if listeners is None:
            return
        listeners.discard(listener)
        if listeners:
            return
        del self._listeners[uri]
        try:
            await self._sync()
        except (PasarelaError, OSError) as exc:  # the upstream is told next time, or never needs to be
            log.info("upstream_unsubscribe_failed", backend=self.backend, uri=uri, error=str(exc))

    # -- what the upstream says ----------------------------------------------------------------

    async def message(self, message: IncomingMessage) -> None:
        """The session's `message_handler`: a 2025-11-25 upstream's updates arrive here, and
        the faults of its transport (its standalone stream lost: the upstream may be gone)."""
        if isinstance(message, types.ResourceUpdatedNotification) and self._stream is None:
            self._heard(message.params.uri)
        elif isinstance(message, Exception):
            log.info("upstream_stream_fault", backend=self.backend, error=type(message).__name__)
            self.session_ended()

    def _heard(self, uri: str) -> None:
        for listener in list(self._listeners.get(uri, ())):
            listener(uri)

    # -- keeping the upstream in line ----------------------------------------------------------

    async def _sync(self, joining: str | None = None, *, afresh: bool = False) -> None:
        """Bring the upstream's subscriptions in line with the URIs followed now (`afresh`: make
        every one again, on whatever session answers); the upstream's refusal of `joining` (the
        URI an agent waits to follow) is raised, others' are logged."""
        async with self._lock:
            if self._closed:
                return
            if afresh:
                self._made_on = None
            await self._request("resources/subscribe", lambda client: self._apply(client, joining))

    async def _apply(self, client: Client, joining: str | None = None) -> None:
        if self._closed:  # closed while this waited for the session
            return
        wanted = self.followed
        if client is not self._made_on:  # a new session holds none of the old one's subscriptions
            self._made_on, self._made = client, set()
            await self._stop_stream()
        offered = client.server_capabilities.resources
        if wanted and not (offered and offered.subscribe):
            raise UpstreamError(f"{self.backend} does not offer resource subscriptions", backend=self.backend)
        if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
            if wanted != self._streaming or self._stream is None or self._stream.done():
                await self._restream(client, wanted)
            return
        # The requests themselves: the SDK's helpers warn that 2026-07-28 removed them, which this is not.
        # One URI the upstream refuses (gone since it restarted, say) must not keep the others unmade.
        for uri in sorted(wanted - self._made):
            join = types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri))
            if await self._ask(client, join, raising=uri == joining):
                self._made.add(uri)
        for uri in sorted(self._made - wanted):
            self._made.discard(uri)
            leave = types.UnsubscribeRequest(params=types.UnsubscribeRequestParams(uri=uri))
            await self._ask(client, leave, raising=False)

    async def _ask(
        self, client: Client, request: types.SubscribeRequest | types.UnsubscribeRequest, *, raising: bool
    ) -> bool:
        """False when the upstream refused; a lost session (and a refusal when `raising`) raises."""
        try:
            await client.session.send_request(request, types.EmptyResult)
        except MCPError as exc:
            if raising or session_broken(exc):
                raise
            log.info(
                "upstream_subscription_refused",
                backend=self.backend,
                method=request.method,
                uri=request.params.uri[:200],
                code=exc.error.code,
            )
            return False
        return True

    async def _restream(self, client: Client, wanted: frozenset[str]) -> None:
        """Open the listen stream naming `wanted`, and only then close the one it replaces (while
        it is acknowledged, the other URIs' updates still arrive); if it fails, that one stays."""
        before = (self._stream, self._streaming, self._honored)
        self._stream = None
        try:
            if wanted:
                await self._start_stream(client, wanted)
        except BaseException:
            if before[0] is not None and not before[0].done():
                await self._stop_stream()
                self._stream, self._streaming, self._honored = before
            raise
        await _cancel(before[0])

    async def _start_stream(self, client: Client, uris: frozenset[str]) -> None:
        acknowledged: asyncio.Future[frozenset[str]] = asyncio.get_running_loop().create_future()
        self._streaming = uris
        self._stream = asyncio.create_task(
            self._listen(client, uris, acknowledged), context=contextvars.Context()
        )
        try:
            async with asyncio.timeout(ACK_TIMEOUT):
                self._honored = await asyncio.shield(acknowledged)
        except TimeoutError:
            await self._stop_stream()
            raise UpstreamError(
                f"{self.backend} did not acknowledge subscriptions/listen within {ACK_TIMEOUT:g}s",
                backend=self.backend,
            ) from None

    async def _listen(
        self, client: Client, uris: frozenset[str], acknowledged: asyncio.Future[frozenset[str]]
    ) -> None:
        try:
            async with client.listen(resource_subscriptions=sorted(uris)) as stream:
                acknowledged.set_result(frozenset(stream.honored.resource_subscriptions or ()))
                async for event in stream:
                    if isinstance(event, ResourceUpdated):
                        self._heard(event.uri)
        except (SubscriptionLost, MCPError, OSError) as exc:
            if not acknowledged.done():
                acknowledged.set_exception(
                    UpstreamError(f"{self.backend} refused subscriptions/listen: {exc}", backend=self.backend)
                )
                return
            log.info("upstream_listen_lost", backend=self.backend, error=type(exc).__name__)
        if acknowledged.done() and not acknowledged.exception():
            self.session_ended()  # a stream that ends while URIs are followed is opened again

    async def _stop_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._streaming = self._honored = frozenset()
        await _cancel(stream)

    def _keep(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._heartbeat(), context=contextvars.Context())

    async def _heartbeat(self) -> None:
        """While URIs are followed, ping a 2025-11-25 upstream now and then: the SDK gives up its
        standalone stream silently, so a restarted upstream (whose new process knows nothing of
        the session) is noticed here, and the subscriptions are made on a new session."""
        while not self._closed and self._listeners:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._request("ping", _ping)
            except (PasarelaError, OSError) as exc:
                log.info("upstream_heartbeat_failed", backend=self.backend, error=str(exc))

    def session_ended(self) -> None:
        """The upstream session (or its listen stream) ended: while URIs are followed, open it
        again with backoff and subscribe again."""
        if self._closed or not self._listeners or (self._reviving and not self._reviving.done()):
            return
        self._reviving = asyncio.create_task(self._revive(), context=contextvars.Context())

    async def _revive(self) -> None:
        for delay in BACKOFF * 100:  # gives up only when nothing is followed any more
            await asyncio.sleep(delay)
            if self._closed or not self._listeners:
                return
            try:
                await self._sync(afresh=True)
                log.info("upstream_subscriptions_restored", backend=self.backend, uris=len(self._listeners))
                return
            except (PasarelaError, OSError) as exc:
                log.info("upstream_subscriptions_retry", backend=self.backend, error=str(exc), after=delay)

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._reviving, self._keeper):
            await _cancel(task)
        await self._stop_stream()


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _ping(client: Client) -> None:
    """A 2025-11-25 session's ping (2026-07-28 has none, nor needs it: a lost listen stream says
    so itself). The request itself: the SDK's helper warns that 2026-07-28 removed it."""
    if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        await client.session.send_request(types.PingRequest(), types.EmptyResult)
