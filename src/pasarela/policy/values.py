"""JSON values and call context as Cedar sees them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
# Cedar decimals carry four fractional digits within the range of a 64-bit integer / 10^4.
_DECIMAL_LIMIT = Decimal(_LONG_MAX) / 10_000
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Cedar's JSON reads a record holding one of these keys as an entity reference or an extension
# value: data must never be able to become `Role::"admin"` that way.
RESERVED_KEYS = frozenset({"__entity", "__extn", "__expr"})

# Bounds on a result passed to Cedar (one result, or one item of a list): what goes beyond them
# is not checked partially (a forbid could miss the part left out) but refused.
MAX_DEPTH = 32  # Cedar's own JSON reader stops near 128 levels
MAX_NODES = 10_000  # values of every kind, containers included
MAX_TEXT = 1_000_000  # characters of strings and keys together


class NotCheckable(ValueError):
    """A result Cedar cannot be shown faithfully; the message says why."""


def cedar_value(value: Any) -> Any:
    """A Cedar JSON value for a JSON value; None for values Cedar cannot hold (null).

    Integers outside Cedar's 64-bit range and floats that do not fit a Cedar decimal become
    strings; other floats become decimals rounded to four places (Cedar's precision), so a
    policy can compare amounts with `.lessThan(decimal("100.0"))`. An object using one of
    Cedar's reserved keys becomes its JSON text, so it stays plain data.
    """
    if value is None:
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _LONG_MIN <= value <= _LONG_MAX else str(value)
    if isinstance(value, float | Decimal):
        return _number(value)
    if isinstance(value, list | tuple):
        return [v for v in (cedar_value(item) for item in value) if v is not None]
    if isinstance(value, Mapping):
        if not RESERVED_KEYS.isdisjoint(str(k) for k in value):
            return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        return {str(k): v for k, v in ((k, cedar_value(item)) for k, item in value.items()) if v is not None}
    return str(value)


def _number(value: float | Decimal) -> Any:
    try:
        rounded = Decimal(repr(value) if isinstance(value, float) else value).quantize(Decimal("0.0001"))
    except InvalidOperation:
        return str(value)
    if not rounded.is_finite() or abs(rounded) > _DECIMAL_LIMIT:
        return str(value)
    return {"__extn": {"fn": "decimal", "arg": f"{rounded:.4f}"}}


def result_value(value: Any) -> Any:
    """`context.result` for a result (or one item of a list result), converted as `cedar_value`
    does, within MAX_DEPTH, MAX_NODES and MAX_TEXT; NotCheckable when it does not fit, or when
    an object uses a key Cedar reserves."""
    budget = [MAX_NODES, MAX_TEXT]

    def convert(node: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise NotCheckable(f"it holds more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise NotCheckable(f"it is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, list | tuple):
            return [v for v in (convert(item, depth + 1) for item in node) if v is not None]
        if isinstance(node, Mapping):
            record = {}
            for raw, item in node.items():
                key = str(raw)
                if key in RESERVED_KEYS:
                    raise NotCheckable(f"an object in it uses the key {key!r}, which Cedar reserves")
                spend(key)
                converted = convert(item, depth + 1)
                if converted is not None:
                    record[key] = converted
            return record
        converted = cedar_value(node)
        if isinstance(converted, str):
            spend(converted)
        return converted

    def spend(text: str) -> None:
        budget[1] -= len(text)
        if budget[1] < 0:
            raise NotCheckable(f"its text is longer than {MAX_TEXT} characters")

    return convert(value, 0)


def user_context(user: Any) -> dict[str, Any]:
    """`context.on_behalf_of`: the verified end user, as a record."""
    record = {k: v for k, v in ((k, cedar_value(v)) for k, v in user.attributes.items()) if v is not None}
    record.update({"id": user.id, "roles": sorted(user.roles)})
    return record


def now_context(moment: dt.datetime) -> dict[str, Any]:
    """`context.now`: the time of the call in UTC, in the pieces policies compare."""
    utc = moment.astimezone(dt.UTC)
    return {
        "hour": utc.hour,
        "minute": utc.minute,
        "weekday": WEEKDAYS[utc.weekday()],
        "date": utc.date().isoformat(),
        "timestamp": int(utc.timestamp()),
    }
