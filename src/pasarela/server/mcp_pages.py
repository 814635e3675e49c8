"""Cursor pagination for MCP lists: a cursor is an opaque position in the caller's own list
(always built in the same order for the same principal and configuration)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TypeVar

import mcp_types as types
from mcp.shared.exceptions import MCPError

T = TypeVar("T")
PAGE_SIZE = 100
MAX_CURSOR = 64


def page(items: Sequence[T], cursor: str | None, size: int = PAGE_SIZE) -> tuple[list[T], str | None]:
    """One page of `items` from `cursor` (None: the first), and the cursor of the next (None: last)."""
    start = 0 if cursor is None else _offset(cursor)
    end = start + size
    return list(items[start:end]), (_cursor(end) if end < len(items) else None)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str) -> int:
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "o" or not number.isdigit():
            raise ValueError
        return int(number)
    except ValueError:
        raise MCPError(
            types.INVALID_PARAMS, "cursor: not a cursor this server gave (list again without one)"
        ) from None
