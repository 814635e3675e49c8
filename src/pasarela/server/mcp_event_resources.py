"""Events as MCP resources (docs/events.md): `pasarela://events/<type>` per event type and the
template `pasarela://events/<type>/{subject}` per type, for the types the reader may subscribe
to (`Action::"subscribe"` on `EventType::"<type>"`).

- `resources/read` answers recent events the reader may receive (`Action::"receive"` per event,
  `redact` rules applied) as `{"events": [CloudEvents…], "next_cursor": "N"}`; `?after=N` reads
  those after a cursor instead (`&limit=` up to 500).
- 2025-11-25 sessions: `resources/subscribe` → `notifications/resources/updated` when an event
  the reader may receive arrives (the rest of the session's life, or until unsubscribed).
- 2026-07-28: `subscriptions/listen` with `resourceSubscriptions` → the same, on the stream.

An event the reader may not receive sends no notification: it is not there for that reader."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import anyio
import anyio.abc
import mcp_types as types
import structlog
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from pasarela import jsonsafe
from pasarela.assembly import Runtime
from pasarela.errors import PasarelaError
from pasarela.events.access import SUBSCRIBE
from pasarela.events.checks import event_types
from pasarela.events.model import Event
from pasarela.events.service import Events
from pasarela.identity.principal import Principal
from pasarela.pipeline import Door
from pasarela.secrets import Redactor
from pasarela.server.mcp_calls import protocol_error

log = structlog.get_logger("pasarela.mcp.events")

EVENTS = "pasarela://events/"
JSON = "application/json"
_URI = re.compile(r"^pasarela://events/([A-Za-z0-9_.-]{1,200})(?:/([^?#/]{1,500}))?(?:\?([^#]{0,200}))?$")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
BATCH = 200
SCAN = 5000  # events looked at per read at most, those withheld included
HEARTBEAT = 15.0
MAX_WATCHED = 1024  # 2025-11-25 sessions following events at once
MAX_TARGETS = 64  # URIs one session or stream follows
SENT_ERRORS = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError, MCPError)


@dataclass(frozen=True, slots=True)
class Target:
    type: str
    subject: str | None = None
    after: int | None = None
    limit: int = DEFAULT_LIMIT

    @property
    def uri(self) -> str:
        """The URI without its query: what a subscription names and notifications carry."""
        return EVENTS + self.type + ("" if self.subject is None else "/" + quote(self.subject, safe=""))

    def matches(self, event: Event) -> bool:
        return event.type == self.type and (self.subject is None or event.subject == self.subject)


def not_found(uri: str) -> MCPError:
    return MCPError(types.INVALID_PARAMS, f"Resource not found: {uri[:200]}")


@dataclass(slots=True)
class _Watch:
    principal: Principal
    session: Any
    after: int  # the log's position when the first subscription was made
    targets: dict[str, Target] = field(default_factory=dict)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class McpEventResources:
    def __init__(self, runtime_of: Callable[[], Runtime], redactor: Redactor, door: Door) -> None:
        self.runtime_of = runtime_of
        self.redactor = redactor
        self.door = door
        self._group: anyio.abc.TaskGroup | None = None
        self._watches: dict[int, _Watch] = {}
        self._streams = 0  # 2026-07-28 listen streams open now

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While entered (the app's lifespan), 2025-11-25 sessions may subscribe."""
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                yield
            finally:
                self._group = None
                group.cancel_scope.cancel()

    # -- what a reader may see ----------------------------------------------------------------

    def _events(self) -> Events:
        return self.runtime_of().events

    def _types(self) -> list[str]:
        return event_types(self.runtime_of().config)

    def _permitted(self, principal: Principal, event_type: str) -> bool:
        decide = self.runtime_of().authorizer.decide_event
        return decide(principal, event_type, SUBSCRIBE, door=str(self.door)).allowed

    def resources(self, principal: Principal) -> list[types.Resource]:
        return [
            types.Resource(
                name=f"events:{name}",
                uri=EVENTS + name,
                title=f"{name} events",
                description=f"Recent {name} events you may receive (CloudEvents JSON); add ?after=CURSOR "
                "for those after a cursor; subscribe to hear of new ones",
                mime_type=JSON,
            )
            for name in self._types()
            if self._permitted(principal, name)
        ]

    def templates(self, principal: Principal) -> list[types.ResourceTemplate]:
        return [
            types.ResourceTemplate(
                name=f"events:{name}:subject",
                uri_template=EVENTS + name + "/{subject}",
                title=f"{name} events about one subject",
                description=f"Recent {name} events about one subject (e.g. a customer id)",
                mime_type=JSON,
            )
            for name in self._types()
            if self._permitted(principal, name)
        ]

    def claims(self, uri: str) -> bool:
        return uri.startswith(EVENTS)

    def claims_template(self, uri_template: str) -> bool:
        return uri_template.startswith(EVENTS)

    def target(self, principal: Principal, uri: str) -> Target:
        """The events a URI names, if the reader may subscribe to their type (else: not found)."""
        found = _URI.match(uri)
        if (
            found is None
            or found.group(1) not in self._types()
            or not self._permitted(principal, found.group(1))
        ):
            raise not_found(uri)
        subject = unquote(found.group(2)) if found.group(2) else None
        after, limit = None, DEFAULT_LIMIT
        for key, value in parse_qsl(found.group(3) or "", keep_blank_values=True):
            if key not in ("after", "limit") or not value.isdigit() or len(value) > 18:
                raise MCPError(types.INVALID_PARAMS, f"{uri[:200]}: expected ?after=CURSOR&limit=N (numbers)")
            if key == "after":
                after = int(value)
            else:
                limit = max(1, min(int(value), MAX_LIMIT))
        return Target(found.group(1), subject, after, limit)

    def complete(self, principal: Principal, uri_template: str, value: str) -> types.Completion:
        """Subjects of recent events the reader may receive, starting with what was typed."""
        found = _URI.match(uri_template.replace("/{subject}", ""))
        if (
            found is None
            or found.group(1) not in self._types()
            or not self._permitted(principal, found.group(1))
        ):
            raise MCPError(types.INVALID_PARAMS, f"Unknown resource template: {uri_template[:200]}")
        events = self._events()
        subjects: dict[str, None] = {}
        for event in reversed(events.reader.tail.recent):
            if (
                event.type == found.group(1)
                and event.subject
                and event.subject.startswith(value)
                and event.subject not in subjects
                and events.access.view(principal, event, str(self.door))
            ):
                subjects[event.subject] = None
            if len(subjects) >= 100:
                break
        return types.Completion(values=list(subjects), has_more=len(subjects) >= 100)

    # -- resources/read ------------------------------------------------------------------------

    async def read(self, principal: Principal, uri: str, request_id: str) -> types.ReadResourceResult:
        target = self.target(principal, uri)
        events = self._events()
        try:
            if target.after is not None:
                start = await events.reader.start(target.after)
                shown, cursor = await self._scan(events, principal, target, start, None)
            else:  # the most recent ones, and the cursor to read on from
                await events.reader.tail.ready()
                oldest, last = await events.log.bounds()
                high = max(events.reader.tail.high, last)
                shown, cursor = await self._scan(
                    events, principal, target, max(oldest - 1, high - SCAN), high
                )
        except PasarelaError as exc:
            raise protocol_error(exc, self.redactor, request_id) from None
        text = jsonsafe.dumps({"events": shown, "next_cursor": str(cursor)}).decode()
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=JSON, text=text)],
            ttl_ms=0,
            cache_scope="private",
        )

    async def _scan(
        self, events: Events, principal: Principal, target: Target, after: int, until: int | None
    ) -> tuple[list[dict[str, Any]], int]:
        """Visible events matching `target` after `after`: the first `limit` (until None) or the
        last `limit` up to `until`; and where the scan stopped."""
        found: deque[dict[str, Any]] = deque(maxlen=target.limit if until is not None else None)
        scanned = 0
        while scanned < SCAN:
            batch = await events.reader.tail.after(after, BATCH)
            if not batch:
                break
            for event in batch:
                if until is not None and event.seq > until:
                    return list(found), after
                after = event.seq
                scanned += 1
                if not target.matches(event):
                    continue
                shown = events.access.view(principal, event, str(self.door))
                if shown is not None:
                    found.append(shown)
                    if until is None and len(found) >= target.limit:
                        return list(found), after
        return list(found), until if until is not None and scanned < SCAN else after

    # -- following new events ------------------------------------------------------------------

    async def _follow(
        self,
        principal: Principal,
        after: int,
        targets: Callable[[], dict[str, Target]],
        send: Callable[[str], Any],
    ) -> None:
        """Tell `send` the URIs an event arriving after `after` updates, for events `principal`
        may receive."""
        events = self._events()
        while True:
            if not await events.reader.tail.wait_past(after, HEARTBEAT):
                continue
            current = self._events()  # a reload brings new policies
            for event in await current.reader.tail.after(after, BATCH):
                after = event.seq
                uris = [uri for uri, t in targets().items() if t.matches(event)]
                if uris and current.access.view(principal, event, str(self.door)) is not None:
                    for uri in uris:
                        await send(uri)

    async def subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams, principal: Principal
    ) -> types.EmptyResult:
        target = self.target(principal, params.uri)
        watch = self._watches.get(id(ctx.session))
        if watch is None:
            if self._group is None or len(self._watches) >= MAX_WATCHED:
                raise MCPError(
                    types.INTERNAL_ERROR, "subscriptions are not available now; read the resource instead"
                )
            watch = _Watch(principal, ctx.session, await self._events().reader.start(None))
            self._watches[id(ctx.session)] = watch
            self._group.start_soon(self._watch, watch)
        if len(watch.targets) >= MAX_TARGETS and target.uri not in watch.targets:
            raise MCPError(types.INVALID_PARAMS, f"at most {MAX_TARGETS} subscriptions per session")
        watch.targets[target.uri] = target
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        watch = self._watches.get(id(ctx.session))
        if watch is not None:
            match = _URI.match(params.uri)
            uri = (
                Target(match.group(1), unquote(match.group(2)) if match.group(2) else None).uri
                if match
                else params.uri
            )
            watch.targets.pop(uri, None)
            if not watch.targets:
                watch.scope.cancel()
        return types.EmptyResult()

    async def _watch(self, watch: _Watch) -> None:
        try:
            with watch.scope:
                await self._follow(
                    watch.principal, watch.after, lambda: watch.targets, watch.session.send_resource_updated
                )
        except SENT_ERRORS as exc:  # the session is gone
            log.info("mcp_event_subscription_ended", principal=watch.principal.id, error=type(exc).__name__)
        except Exception:  # one session's subscription must not take the server's task group down
            log.exception("mcp_event_subscription_failed", principal=watch.principal.id)
        finally:
            if self._watches.get(id(watch.session)) is watch:
                del self._watches[id(watch.session)]

    async def listen_resources(
        self,
        ctx: ServerRequestContext[Any],
        uris: Sequence[str],
        principal: Principal,
        meta: dict[str, Any],
        honored_elsewhere: Sequence[str] = (),
    ) -> None:
        """A 2026-07-28 listen stream's event subscriptions, until the client goes away; the
        acknowledgment also names the other resources the stream follows (`honored_elsewhere`)."""
        if self._streams >= MAX_WATCHED:
            raise MCPError(types.INTERNAL_ERROR, "Subscription limit reached")
        self._streams += 1
        try:
            await self._listen(ctx, uris, principal, meta, honored_elsewhere)
        finally:
            self._streams -= 1

    async def _listen(
        self,
        ctx: ServerRequestContext[Any],
        uris: Sequence[str],
        principal: Principal,
        meta: dict[str, Any],
        honored_elsewhere: Sequence[str],
    ) -> None:
        targets: dict[str, Target] = {}
        for uri in uris[:MAX_TARGETS]:
            try:
                target = self.target(principal, uri)
            except MCPError:
                continue  # not honored: unknown and not permitted alike
            targets[target.uri] = target
        after = await self._events().reader.start(None)  # before the ack: nothing after it is missed
        honored = types.SubscriptionFilter(resource_subscriptions=[*honored_elsewhere, *targets] or None)
        await ctx.session.send_notification(
            types.SubscriptionsAcknowledgedNotification(
                params=types.SubscriptionsAcknowledgedNotificationParams(notifications=honored, _meta=meta)
            ),
            related_request_id=ctx.request_id,
        )

        async def send(uri: str) -> None:
            await ctx.session.send_notification(
                types.ResourceUpdatedNotification(
                    params=types.ResourceUpdatedNotificationParams(uri=uri, _meta=meta)
                ),
                related_request_id=ctx.request_id,
            )

        await self._follow(principal, after, lambda: targets, send)
