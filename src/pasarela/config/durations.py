"""Durations written as `250ms`, `5s`, `5m`, `1h`, `1d` (or a plain number of seconds)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration(value: Any) -> float:
    """Seconds, from a duration string or number; ValueError says what was expected."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 5s, 5m or 1h")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f"expected a duration such as 500ms, 5s, 5m or 1h, got {value!r}")


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(ge=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d)$"},
                {"type": "number", "minimum": 0},
                # Resolved at load time, like any value: ${env:NAME:-5m}.
                {"type": "string", "pattern": r"^\$\{(env|secret):[^}]+\}$"},
            ],
            "description": "A duration: 500ms, 5s, 5m, 1h, 1d, or seconds as a number",
        }
    ),
]
