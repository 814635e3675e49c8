"""Agents following resources that are not events: `notifications/resources/updated` for an
upstream MCP server's resources, and for declared ones changed by a reload.

- A federated resource (or a URI of a federated template) is followed upstream once per URI,
  whoever follows it (connectors/upstream_mcp_watch.py); each update the upstream sends is
  passed on to the followers that may still read that URI (`Action::"read_resource"`, decided
  again per update, with the policies of the moment), never to the others.
- A declared text or file resource changes only when the configuration does: after a reload
  that changed it, its followers are told.
- A resource made by a tool cannot be followed: the gateway is not told when a system's answer
  changes (events are: `pasarela://events/<type>`), and a subscription that never fires would
  mislead the agent. Subscribing to one is refused with a reason.

A follower is a 2025-11-25 session (told on its standalone stream, until it unsubscribes or
ends) or a 2026-07-28 `subscriptions/listen` stream (told on that stream while it is open).
Either stream ends when its credentials no longer hold (server/stream_credentials.py).
Subscribing is audited like a read (outcome `subscribed`); a refused one answers as for a URI
that names nothing, as a refused read does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import mcp_types as types
import structlog
from mcp.shared.exceptions import MCPError

from pasarela.assembly import Runtime
from pasarela.connectors.upstream_mcp_watch import UpstreamWatches
from pasarela.content.access import ContentAccess
from pasarela.content.loading import pin_name
from pasarela.content.model import RESOURCE_KIND, Found
from pasarela.errors import InvalidRequest, PasarelaError, ToolQuarantined
from pasarela.identity.principal import Principal
from pasarela.pipeline import Door
from pasarela.secrets import Redactor
from pasarela.server.mcp_calls import protocol_error
from pasarela.server.mcp_event_resources import MAX_TARGETS, not_found
from pasarela.server.mcp_resource_delivery import Follower, Send

log = structlog.get_logger("pasarela.mcp")

MAX_FOLLOWERS = 4096  # sessions and listen streams following resources at once, per process
MAX_PER_PRINCIPAL = 256  # URIs one principal follows at once, all its sessions and streams together


class ResourceFollowers:
    def __init__(self, runtime_of: Callable[[], Runtime], redactor: Redactor, door: Door) -> None:
        self.runtime_of = runtime_of
        self.redactor = redactor
        self.door = door
        self._followers: dict[str, Follower] = {}
        self._by_uri: dict[str, dict[str, Follower]] = {}
        self._pending: set[str] = set()  # URIs an upstream said changed, not yet passed on
        self._joining: dict[str, anyio.Event] = {}  # URIs being followed upstream for a first follower
        self._locks: dict[str, anyio.Lock] = {}  # one subscription at a time per follower (its limits)
        self._wake = anyio.Event()
        self._group: anyio.abc.TaskGroup | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            self._group = group
            group.start_soon(self._deliver)
            try:
                yield
            finally:
                self._group = None
                group.cancel_scope.cancel()

    # -- following -----------------------------------------------------------------------------

    def _access(self, runtime: Runtime) -> ContentAccess:
        return ContentAccess(runtime.authorizer, runtime.gateway, self.door)

    def _readable(self, runtime: Runtime, principal: Principal, uri: str) -> Found | None:
        found = runtime.content.catalog.find(uri)
        if found is None or (
            found.template is not None
            and pin_name(RESOURCE_KIND, found.name) in runtime.content.catalog.quarantined
        ):
            return None
        decision = self._access(runtime).decide(
            principal, RESOURCE_KIND, found.name, found.backend, found.variables
        )
        return found if decision.allowed else None

    async def follow(self, key: str, principal: Principal, uri: str, send: Send, request_id: str) -> None:
        """`key` (a session, a listen stream) follows `uri`; raises what the agent is told."""
        runtime = self.runtime_of()
        found = runtime.content.catalog.find(uri)
        if found is None:
            raise not_found(uri)
        access = self._access(runtime)
        arguments = {**found.variables, "uri": uri}
        decision = access.decide(principal, RESOURCE_KIND, found.name, found.backend, found.variables)

        def record(outcome: str) -> None:
            access.record(
                principal, RESOURCE_KIND, found.name, arguments, request_id,
                decision=decision, outcome=outcome, backend=found.backend,
            )  # fmt: skip

        if not decision.allowed:
            record("denied")
            raise not_found(uri)
        lock = self._locks.setdefault(key, anyio.Lock())
        try:
            async with lock:  # the limits below hold for concurrent subscriptions of one follower
                self._within_limits(key, principal, uri)
                try:
                    await self._watch(runtime, found, uri)
                except PasarelaError as exc:
                    record(exc.code)
                    raise protocol_error(exc, self.redactor, request_id) from None
                self._add(key, principal, uri, send)
        finally:
            if key not in self._followers and not lock.statistics().tasks_waiting:
                self._locks.pop(key, None)
        record("subscribed")
        now = self.runtime_of()
        if now is not runtime:  # reloaded while the upstream was asked: the switch may have missed it
            await self._move(runtime, now, uri)

    def _within_limits(self, key: str, principal: Principal, uri: str) -> None:
        follower = self._followers.get(key)
        if follower is None and (self._group is None or len(self._followers) >= MAX_FOLLOWERS):
            raise MCPError(
                types.INTERNAL_ERROR, "subscriptions are not available now; read the resource instead"
            )
        if follower is not None and uri not in follower.uris and len(follower.uris) >= MAX_TARGETS:
            raise MCPError(types.INVALID_PARAMS, f"at most {MAX_TARGETS} subscriptions per session")
        followed = {u for f in self._followers.values() if f.principal.id == principal.id for u in f.uris}
        if uri not in followed and len(followed) >= MAX_PER_PRINCIPAL:
            raise MCPError(
                types.INVALID_PARAMS,
                f"at most {MAX_PER_PRINCIPAL} resources followed at once by one principal; "
                "unsubscribe from one first",
            )

    def _add(self, key: str, principal: Principal, uri: str, send: Send) -> None:
        follower = self._followers.get(key)
        if follower is None:
            assert self._group is not None  # checked by _within_limits, with no await since
            follower = self._followers[key] = Follower(principal, send)
            self._group.start_soon(self._feed, key, follower)
        follower.principal = principal
        follower.uris.add(uri)
        self._by_uri.setdefault(uri, {})[key] = follower

    async def _feed(self, key: str, follower: Follower) -> None:
        if not await follower.feed() and self._followers.get(key) is follower:
            await self.drop(key)  # it stopped taking notifications

    async def _watch(self, runtime: Runtime, found: Found, uri: str) -> None:
        entry = found.resource or found.template
        if entry is not None and entry.tool is not None:
            raise InvalidRequest(
                f"{uri[:200]} is made by the tool {entry.tool.tool}: the gateway is not told when its "
                "answer changes; read it again when needed, or subscribe to the events that say so"
            )
        held = runtime.content.catalog.quarantined.get(pin_name(RESOURCE_KIND, found.name))
        if held is not None and found.template is not None:
            raise ToolQuarantined(held, tool=found.name)
        upstream = runtime.content.upstreams.get(found.backend or "")
        if upstream is not None:
            await self._join(upstream.connector.watches, uri)

    async def _join(self, watches: UpstreamWatches, uri: str) -> None:
        """Follow `uri` upstream unless a follower already does. One request per URI at a time:
        whoever comes while the upstream decides waits for its answer, and asks again if it was
        a refusal (or the first gave up), rather than being told it follows what nobody does."""
        while uri not in self._by_uri:
            joining = self._joining.get(uri)
            if joining is not None:
                await joining.wait()
                continue
            self._joining[uri] = joining = anyio.Event()
            try:
                await watches.watch(uri, self._heard)
            finally:
                del self._joining[uri]
                joining.set()  # the follower is registered before the waiters run (no await between)
            return

    async def unfollow(self, key: str, uri: str) -> None:
        follower = self._followers.get(key)
        if follower is None or uri not in follower.uris:
            return
        follower.uris.discard(uri)
        follower.pending.discard(uri)
        if not follower.uris:
            del self._followers[key]
            follower.scope.cancel()
        if self._forget(key, uri):
            await self._unwatch(self.runtime_of(), uri)

    async def drop(self, key: str) -> None:
        """The session or stream is gone: it follows nothing any more. Forgotten at once, and
        the upstream told even when the caller is being cancelled (a listen stream that closed)."""
        follower = self._followers.pop(key, None)
        if follower is not None:
            follower.scope.cancel()
        left = [uri for uri in sorted(follower.uris if follower else ()) if self._forget(key, uri)]
        with anyio.CancelScope(shield=True):
            for uri in left:
                await self._unwatch(self.runtime_of(), uri)

    def drop_soon(self, key: str) -> None:
        """`drop`, from code that cannot wait (a session manager's close callback)."""
        if key in self._followers and self._group is not None:
            self._group.start_soon(self.drop, key)

    def _forget(self, key: str, uri: str) -> bool:
        """True when `key` was the last to follow `uri`."""
        keys = self._by_uri.get(uri, {})
        keys.pop(key, None)
        if keys:
            return False
        self._by_uri.pop(uri, None)
        return True

    async def _unwatch(self, runtime: Runtime, uri: str) -> None:
        found = runtime.content.catalog.find(uri)
        upstream = runtime.content.upstreams.get(found.backend or "") if found else None
        if upstream is not None:
            await upstream.connector.watches.unwatch(uri, self._heard)

    # -- telling -------------------------------------------------------------------------------

    def _heard(self, uri: str) -> None:
        """An upstream says `uri` changed (called on its session's reader: must not block)."""
        if uri in self._by_uri:
            self._pending.add(uri)
            self._wake.set()

    async def _deliver(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            pending, self._pending = self._pending, set()
            self._tell(sorted(pending))

    def _tell(self, uris: list[str], gone_from: Runtime | None = None) -> None:
        """Each URI to each of its followers that may read it now (decided here, once per
        update); a URI a reload removed is decided as `gone_from` (the runtime before) had it."""
        now = self.runtime_of()
        for uri in uris:
            runtime = now
            if gone_from is not None and now.content.catalog.find(uri) is None:
                runtime = gone_from
            for follower in list(self._by_uri.get(uri, {}).values()):
                if self._readable(runtime, follower.principal, uri) is not None:
                    follower.tell(uri)

    async def reloaded(self, old: Runtime, new: Runtime) -> None:
        """After a reload: follow upstream URIs on the new runtime's sessions, and tell the
        followers of declared resources the reload changed."""
        changed = [uri for uri in sorted(self._by_uri) if await self._move(old, new, uri)]
        self._tell(changed, gone_from=old)

    async def _move(self, old: Runtime, new: Runtime, uri: str) -> bool:
        """Follow `uri` upstream on `new`'s sessions rather than `old`'s; True for a declared
        resource `new` changed (or no longer has)."""
        before, after = old.content.catalog.find(uri), new.content.catalog.find(uri)
        upstream = new.content.upstreams.get(after.backend or "") if after else None
        changed = False
        if upstream is not None:
            try:
                await upstream.connector.watches.watch(uri, self._heard)
            except PasarelaError as exc:
                log.warning("mcp_resource_follow_lost", uri=uri, error=exc.detail)
            if uri not in self._by_uri:  # its last follower left meanwhile
                await self._unwatch(new, uri)
        else:
            changed = before is None or after is None or before.resource != after.resource
        await self._unwatch(old, uri)
        return changed
