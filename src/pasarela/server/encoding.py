"""JSON out of the doors: orjson, with the standard encoder for what orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson


def json_text(value: Any) -> str:
    """`value` as JSON text. orjson refuses integers beyond 64 bits (a tool may return one) and
    lone surrogates; the standard encoder writes both, so an answer never fails to serialize."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return json.dumps(value, default=str, ensure_ascii=False)


def json_bytes(value: Any) -> bytes:
    return json_text(value).encode("utf-8", "replace")  # a lone surrogate becomes "?"
