"""Who receives what: Cedar decides `Action::"subscribe"` on `EventType::"<type>"` when an agent
asks for a type, and `Action::"receive"` for each event with the event in `context.event`; the
data is masked per `events.types.<type>.redact` unless `Action::"unmask"` is permitted.

An event the policy withholds is simply not there for that reader: no count, no error, no gap
it could tell from an empty log."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from pasarela.errors import AccessDenied
from pasarela.events.model import Event
from pasarela.identity.principal import Principal
from pasarela.policy import CedarAuthorizer
from pasarela.protection import MaskingRule

SUBSCRIBE, RECEIVE, UNMASK = "subscribe", "receive", "unmask"
GLOB = set("*?[")


class TypeFilter:
    """The types an agent asked for: names and globs (`customer_*`); none asked is every type."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.names = frozenset(p for p in patterns if not GLOB & set(p))
        self.globs = tuple(p for p in patterns if GLOB & set(p))
        self.everything = not patterns

    def wants(self, event_type: str) -> bool:
        return (
            self.everything
            or event_type in self.names
            or any(fnmatch.fnmatchcase(event_type, g) for g in self.globs)
        )


class EventAccess:
    def __init__(self, authorizer: CedarAuthorizer, masking: Mapping[str, MaskingRule]) -> None:
        self.authorizer = authorizer
        self.masking = dict(masking)

    def check_subscribe(self, principal: Principal, types: TypeFilter, door: str) -> None:
        """A type named outright that the agent may not subscribe to is refused (403): it asked.
        Globs and "every type" are narrowed silently, event by event."""
        for name in sorted(types.names):
            decision = self.authorizer.decide_event(principal, name, SUBSCRIBE, door=door)
            if not decision.allowed:
                reasons = [p.reason for p in decision.policies if p.effect == "forbid" and p.reason]
                detail = f"you may not subscribe to {name!r}"
                raise AccessDenied(detail + (f": {reasons[0]}" if reasons else ""), event_type=name)

    def view(self, principal: Principal, event: Event, door: str) -> dict[str, Any] | None:
        """The event as `principal` may see it (CloudEvents JSON), or None when it may not."""
        decide = self.authorizer.decide_event
        if not decide(principal, event.type, SUBSCRIBE, door=door).allowed:
            return None
        if not decide(principal, event.type, RECEIVE, event.context(), door=door).allowed:
            return None
        data = event.data
        rule = self.masking.get(event.type)
        if rule is not None and not decide(principal, event.type, UNMASK, door=door).allowed:
            data, _ = rule.apply(data)
        return event.cloudevent(data)
