"""JSON values and call context as Cedar sees them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
# Cedar decimals carry four fractional digits within the range of a 64-bit integer / 10^4.
_DECIMAL_LIMIT = Decimal(_LONG_MAX) / 10_000
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def cedar_value(value: Any) -> Any:
    """A Cedar JSON value for a JSON value; None for values Cedar cannot hold (null).

    Integers outside Cedar's 64-bit range and floats that do not fit a Cedar decimal become
    strings; other floats become decimals rounded to four places (Cedar's precision), so a
    policy can compare amounts with `.lessThan(decimal("100.0"))`.
    """
    if value is None:
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _LONG_MIN <= value <= _LONG_MAX else str(value)
    if isinstance(value, float):
        try:
            rounded = Decimal(repr(value)).quantize(Decimal("0.0001"))
        except InvalidOperation:
            return str(value)
        if not rounded.is_finite() or abs(rounded) > _DECIMAL_LIMIT:
            return str(value)
        return {"__extn": {"fn": "decimal", "arg": f"{rounded:.4f}"}}
    if isinstance(value, list | tuple):
        return [v for v in (cedar_value(item) for item in value) if v is not None]
    if isinstance(value, Mapping):
        return {str(k): v for k, v in ((k, cedar_value(item)) for k, item in value.items()) if v is not None}
    return str(value)


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
