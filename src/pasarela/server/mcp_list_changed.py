"""`notifications/tools/list_changed` to the sessions whose principal's view changed.

What a principal may see changes when the configuration is reloaded (SIGHUP): tools added or
removed, grants and policies edited, a tool quarantined because its backend changed it, or
served again because an operator approved it (`pasarela tools approve`, then a reload). After
each reload every open session's principal is looked at again, once per principal: if the
tools it sees differ (a name, or any part of a listed tool), its sessions are told.

- 2025-11-25 sessions hear it on their standalone stream (the `GET /mcp` stream).
- 2026-07-28 clients hear it on a `subscriptions/listen` stream they opened, filtered by what
  they subscribed to; each stream belongs to the principal that opened it.

Tools, prompts and resources (declared and federated, with their templates) are each a
`ListView`, told with their own notification (`notifications/prompts/list_changed`,
`notifications/resources/list_changed`); another list adds its view with `add_view`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import mcp_types as types
import structlog
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ServerEvent,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPError

from pasarela.assembly import Runtime
from pasarela.content.access import ContentAccess
from pasarela.content.loading import pin_name
from pasarela.content.model import PROMPT_KIND, RESOURCE_KIND
from pasarela.identity.principal import Principal
from pasarela.pipeline import Door
from pasarela.server.mcp_calls import PrincipalResolver
from pasarela.server.mcp_progress import UNDELIVERABLE

log = structlog.get_logger("pasarela.mcp")

Kind = Literal["tools", "prompts", "resources"]
# Listen streams one principal may hold open, and all of them together, on this replica.
LISTENS_PER_PRINCIPAL = 32
LISTENS_TOTAL = 10_000


@dataclass(frozen=True, slots=True)
class ListView:
    """What a principal sees of one kind of list: name → everything shown of it (compared with ==)."""

    kind: Kind
    of: Callable[[Runtime, Principal, Door], Mapping[str, Any]]


def tools_view(runtime: Runtime, principal: Principal, door: Door) -> Mapping[str, Any]:
    return {spec.name: spec for spec in runtime.gateway.tools_for(principal, door)}


def prompts_view(runtime: Runtime, principal: Principal, door: Door) -> Mapping[str, Any]:
    """As `prompts/list` shows them (server/mcp_prompts.py)."""
    access = ContentAccess(runtime.authorizer, runtime.gateway, door)
    catalog = runtime.content.catalog
    return {
        p.name: p
        for p in catalog.prompts.values()
        if pin_name(PROMPT_KIND, p.name) not in catalog.quarantined
        and access.may(principal, PROMPT_KIND, p.name, p.backend)
    }


def resources_view(runtime: Runtime, principal: Principal, door: Door) -> Mapping[str, Any]:
    """As `resources/list` and `resources/templates/list` show them (server/mcp_resources.py)."""
    access = ContentAccess(runtime.authorizer, runtime.gateway, door)
    catalog = runtime.content.catalog
    seen: dict[str, Any] = {
        f"resource:{r.name}": r
        for r in catalog.resources.values()
        if access.may(principal, RESOURCE_KIND, r.name, r.backend)
    }
    seen |= {
        f"template:{t.name}": t
        for t in catalog.templates.values()
        if pin_name(RESOURCE_KIND, t.name) not in catalog.quarantined
        and access.may(principal, RESOURCE_KIND, t.name, t.backend)
    }
    return seen


VIEWS = (
    ListView("tools", tools_view),
    ListView("prompts", prompts_view),
    ListView("resources", resources_view),
)


NOTIFICATIONS: dict[Kind, tuple[types.ServerNotification, ServerEvent]] = {
    "tools": (types.ToolListChangedNotification(), ToolsListChanged()),
    "prompts": (types.PromptListChangedNotification(), PromptsListChanged()),
    "resources": (types.ResourceListChangedNotification(), ResourcesListChanged()),
}


@dataclass
class _Session:
    principal: Principal
    session: ServerSession  # its standalone channel outlives the request it came with


class ListChanges:
    def __init__(self, door: Door, resolve_principal: PrincipalResolver) -> None:
        self.door = door
        self._resolve = resolve_principal
        self.views: list[ListView] = list(VIEWS)
        self._sessions: dict[str, _Session] = {}
        self._listens: dict[int, tuple[Principal, InMemorySubscriptionBus]] = {}
        self._numbers = itertools.count()

    def add_view(self, view: ListView) -> None:
        """Another list whose changes sessions are told of (prompts, resources)."""
        self.views.append(view)

    # -- who is listening --------------------------------------------------------------------

    def seen(self, session_id: str, principal: Principal, session: ServerSession) -> None:
        """A request of a 2025-11-25 session: remember it (with its principal as of now)."""
        found = self._sessions.get(session_id)
        if found is None or found.principal != principal:
            self._sessions[session_id] = _Session(principal, session)

    def forget(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    async def listen(
        self, ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        """`subscriptions/listen` (2026-07-28): one stream, its principal's changes only."""
        principal = self._resolve(ctx)
        held = sum(1 for who, _ in self._listens.values() if who.id == principal.id)
        if held >= LISTENS_PER_PRINCIPAL or len(self._listens) >= LISTENS_TOTAL:
            raise MCPError(
                types.INTERNAL_ERROR,
                f"too many open subscriptions/listen streams (at most {LISTENS_PER_PRINCIPAL} per principal): "
                "close one before opening another",
            )
        bus = InMemorySubscriptionBus()
        with self._listening(principal, bus):
            return await ListenHandler(bus, max_subscriptions=1)(ctx, params)

    @contextmanager
    def _listening(self, principal: Principal, bus: InMemorySubscriptionBus) -> Iterator[None]:
        number = next(self._numbers)
        self._listens[number] = (principal, bus)
        try:
            yield
        finally:
            del self._listens[number]

    # -- telling them ------------------------------------------------------------------------

    async def reloaded(self, old: Runtime, new: Runtime) -> None:
        """After a reload: tell each session whose principal's lists changed."""
        principals = {s.principal.id: s.principal for s in self._sessions.values()}
        principals |= {who.id: who for who, _ in self._listens.values()}
        changed: dict[str, list[Kind]] = {}
        for key, principal in principals.items():
            kinds = [
                v.kind
                for v in self.views
                if v.of(old, principal, self.door) != v.of(new, principal, self.door)
            ]
            if kinds:
                changed[key] = kinds
        if not changed:
            return
        log.info("mcp_lists_changed", principals=len(changed))
        await self.tell(changed)

    async def tell(self, changed: Mapping[str, list[Kind]]) -> None:
        """Send each principal's sessions and listen streams the list_changed of `changed[id]`."""
        for session in list(self._sessions.values()):
            for kind in changed.get(session.principal.id, ()):
                try:  # best effort: a session with no standalone stream open hears it on none
                    await session.session.send_notification(NOTIFICATIONS[kind][0])
                except UNDELIVERABLE as exc:
                    log.debug("mcp_list_changed_undelivered", error=type(exc).__name__)
        for principal, bus in list(self._listens.values()):
            for kind in changed.get(principal.id, ()):
                await bus.publish(NOTIFICATIONS[kind][1])
