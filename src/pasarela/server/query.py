"""Query parameters the doors share: how long to wait, how many to list."""

from __future__ import annotations

from pasarela.config.durations import parse_duration
from pasarela.errors import InvalidRequest


def wait_param(value: str | None) -> float:
    """`?wait=`: a duration (`30s`, `500ms`) or whole seconds; 0 when absent."""
    if value is None:
        return 0.0
    try:
        return parse_duration(value if not value.isdigit() else f"{value}s")
    except ValueError as exc:
        raise InvalidRequest(f"wait: {exc}") from None


def limit_param(value: str | None, *, default: int, maximum: int) -> int:
    """`?limit=`: a whole number from 1 to `maximum`; `default` when absent."""
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise InvalidRequest(f"limit must be a whole number from 1 to {maximum}")
    return int(value)
