"""When a backend says its data was current: HTTP `Date` and `Last-Modified` (RFC 9110 dates)."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime


def http_date(value: str | None) -> float | None:
    """Seconds since the epoch, or None for a missing or malformed date (never an error)."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def http_freshness(headers: Mapping[str, str]) -> tuple[float | None, float | None]:
    """(as_of from `Date`, last_modified from `Last-Modified`)."""
    return http_date(headers.get("Date")), http_date(headers.get("Last-Modified"))
