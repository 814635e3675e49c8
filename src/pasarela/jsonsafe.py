"""JSON encoding that never fails on a value the gateway may meet.

orjson is the fast path everywhere, but it refuses integers beyond 64 bits and nesting deeper
than 255 levels — values a backend description or a backend's answer can hold. Falling back to
the standard library keeps such values exact (big integers stay integers) instead of turning
a record, a pin or an answer into an exception. Non-finite floats become null, as orjson does,
so the output is always standard JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

# Deeper than this the fallback stops descending and writes a marker: the doors bound what
# agents send far below it, so only a hostile backend answer gets here. Each level costs two
# Python frames here and one in the encoder: well inside the interpreter's recursion limit.
MAX_DEPTH = 200


def dumps(value: Any, *, sort_keys: bool = False, indent: bool = False) -> bytes:
    """`value` as UTF-8 JSON; `default=str` for anything JSON has no type for."""
    option = (orjson.OPT_SORT_KEYS if sort_keys else 0) | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(value, option=option, default=str)
    except (orjson.JSONEncodeError, RecursionError):
        plain = _plain(value, 0)
        return json.dumps(
            plain,
            sort_keys=sort_keys,
            indent=2 if indent else None,
            separators=None if indent else (",", ":"),
            default=str,  # ASCII escapes: a lone surrogate stays representable
        ).encode()


def _plain(value: Any, depth: int) -> Any:
    """A copy that the standard library encodes as standard JSON (no NaN, bounded depth)."""
    if depth > MAX_DEPTH:
        return "…nested too deep…"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    return value
