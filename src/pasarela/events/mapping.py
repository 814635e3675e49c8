"""From a source's message to an event: its rules (JMESPath) pick the type and build the id, the
subject, the time and the data, which must satisfy the rule's registry schema."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jmespath
import orjson
from jmespath.parser import ParsedResult

from pasarela.config.events import EVENT_TYPE, EventRule
from pasarela.contracts.registry import Contract, SchemaRegistry
from pasarela.errors import EventRefused
from pasarela.events.envelope import checked, iso, parse_time
from pasarela.events.model import NewEvent

_TYPE = re.compile(EVENT_TYPE)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    type: str
    when: ParsedResult | None
    id: ParsedResult | None
    subject: ParsedResult | None
    time: ParsedResult | None
    data: ParsedResult | None
    schema: str | None
    contract: Contract | None


def _compiled(expression: str | None) -> ParsedResult | None:
    return None if expression is None else jmespath.compile(expression)


class Mapper:
    """One per source: `map` turns a message into a checked NewEvent or raises EventRefused."""

    def __init__(
        self, source: str, rules: Sequence[EventRule], registry: SchemaRegistry, max_bytes: int
    ) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self.rules = [
            CompiledRule(
                rule.type,
                _compiled(rule.when),
                _compiled(rule.id),
                _compiled(rule.subject),
                _compiled(rule.time),
                _compiled(rule.data),
                rule.schema_,
                registry.get(rule.schema_) if rule.schema_ is not None and rule.schema_ in registry else None,
            )
            for rule in rules
        ]

    @property
    def types(self) -> list[str]:
        return [rule.type for rule in self.rules]

    def map(self, message: Any, *, message_id: str | None = None, received: float | None = None) -> NewEvent:
        """`message` is the decoded JSON (a CloudEvent as a dict when it came as one);
        `message_id` the transport's id for it (webhook-id, broker message id), the default id."""
        now = iso_now(received)
        if not self.rules:
            return self._as_cloudevent(message, now)
        for rule in self.rules:
            if rule.when is not None and not _truthy(rule.when.search(message)):
                continue
            return self._by_rule(rule, message, message_id, now)
        raise EventRefused(
            f"no rule of events.sources.{self.source}.events applies to this message "
            f"(rules for: {', '.join(self.types)})"
        )

    def _by_rule(self, rule: CompiledRule, message: Any, message_id: str | None, now: str) -> NewEvent:
        event_id = _text(rule.id.search(message), "id") if rule.id is not None else message_id
        if event_id is None and isinstance(message, dict) and isinstance(message.get("id"), str):
            event_id = message["id"]  # a CloudEvent's own id
        if not event_id:
            raise EventRefused(
                f"the event has no id: give events.sources.{self.source}.events[].id (a JMESPath) "
                "or send one (webhook-id, a CloudEvent id)"
            )
        subject = _text(rule.subject.search(message), "subject") if rule.subject is not None else None
        when = rule.time.search(message) if rule.time is not None else None
        data = rule.data.search(message) if rule.data is not None else message
        event = NewEvent(
            source=self.source,
            id=event_id,
            type=rule.type,
            time=now if when is None else parse_time(when, "time"),
            data=data,
            subject=subject,
            dataschema=rule.schema,
        )
        return self._checked(event, rule.contract)

    def _as_cloudevent(self, message: Any, now: str) -> NewEvent:
        if not isinstance(message, dict) or not {"id", "type"} <= message.keys():
            raise EventRefused(
                f"events.sources.{self.source} has no rules, so each message must be a CloudEvent "
                "(JSON with id, source, type, specversion)"
            )
        kind = message["type"]
        if not isinstance(kind, str) or not _TYPE.match(kind):
            raise EventRefused(f"type {kind!r:.80}: expected 1-200 of A-Z a-z 0-9 _ . -")
        subject = message.get("subject")
        event = NewEvent(
            source=self.source,
            id=_text(message["id"], "id") or "",
            type=kind,
            time=now if message.get("time") is None else parse_time(message["time"], "time"),
            data=message.get("data"),
            subject=None if subject is None else _text(subject, "subject"),
        )
        return self._checked(event, None)

    def _checked(self, event: NewEvent, contract: Contract | None) -> NewEvent:
        size = len(orjson.dumps(event.data, option=orjson.OPT_NON_STR_KEYS))
        if size > self.max_bytes:
            raise EventRefused(
                f"the event's data is {size} bytes, over events.max_data_bytes ({self.max_bytes})"
            )
        if contract is not None:
            problems = contract.problems(event.data)
            if problems:
                raise EventRefused(
                    f"the event's data does not satisfy {event.dataschema}",
                    errors=[{"path": p.path, "message": p.message} for p in problems],
                )
        return checked(event)


def iso_now(received: float | None) -> str:
    return iso(dt.datetime.fromtimestamp(time.time() if received is None else received, dt.UTC))


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", [], {})


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EventRefused(f"the event's {what} must be a string or a number, got {type(value).__name__}")
    return str(value)
