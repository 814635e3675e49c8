"""Tool and argument names that every door accepts.

MCP allows more than OpenAI and Anthropic do, so names are held to the strictest rule:
1–64 characters of `[A-Za-z0-9_-]`. Names that must be shortened keep a short hash of the
original, so two long names that share a prefix stay distinct.
"""

from __future__ import annotations

import hashlib
import re

MAX_TOOL_NAME = 64
_INVALID = re.compile(r"[^A-Za-z0-9_-]+")
_RUNS = re.compile(r"__+")
_INVALID_ARGUMENT = re.compile(r"[^A-Za-z0-9_.-]+")
_SYMBOLS = {"<": "_lt", ">": "_gt", "[": "_", "]": ""}


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def sanitize_tool_name(raw: str) -> str:
    """A valid tool name derived from `raw` (an operationId, a method and path …)."""
    name = _RUNS.sub("_", _INVALID.sub("_", raw)).strip("_") or "tool"
    if len(name) > MAX_TOOL_NAME:
        name = f"{name[: MAX_TOOL_NAME - 9]}_{_short_hash(raw)}"
    return name


def sanitize_argument_name(raw: str) -> str:
    """A property name safe for every function-calling format (`StartTime<` → `StartTime_lt`)."""
    for symbol, replacement in _SYMBOLS.items():
        raw = raw.replace(symbol, replacement)
    return _INVALID_ARGUMENT.sub("_", raw).strip("_") or "arg"


def make_unique(name: str, taken: set[str], *, limit: int = MAX_TOOL_NAME) -> str:
    """`name`, or `name_2`, `name_3` … whichever is not yet in `taken`; adds it to `taken`."""
    candidate = name
    counter = 2
    while candidate in taken:
        suffix = f"_{counter}"
        candidate = name[: limit - len(suffix)] + suffix
        counter += 1
    taken.add(candidate)
    return candidate
