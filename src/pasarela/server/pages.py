"""Cursors for MCP lists: a page of items and where the next one starts.

A cursor names the last item of its page (base64url of its name), not a position: a reload that
adds or removes tools between two pages shifts nothing the client has not seen. A cursor whose
item is gone is refused with INVALID_PARAMS ("list again"), as the protocol asks of an invalid
cursor; so is anything that is not a cursor this gateway made.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

import mcp_types as types
from mcp.shared.exceptions import MCPError

T = TypeVar("T")
# A catalog smaller than a page comes whole, for clients that never page; a page of 500 tools
# is answered in tens of milliseconds (bench/tools_list.py), most of it the SDK's serialization.
DEFAULT_PAGE_SIZE = 500
MAX_CURSOR = 200  # characters: the base64 of a name (at most 128 characters) fits


def page(
    items: Sequence[T], cursor: str | None, size: int, name: Callable[[T], str]
) -> tuple[list[T], str | None]:
    """Up to `size` items after the one `cursor` names, and the cursor of the page after (None
    when this page is the last)."""
    start = 0
    if cursor is not None:
        after = _decode(cursor)
        for index, item in enumerate(items):
            if name(item) == after:
                start = index + 1
                break
        else:
            raise MCPError(
                types.INVALID_PARAMS,
                "the list changed since this cursor was given (a reload or a policy change): list again without a cursor",
            )
    chosen = list(items[start : start + size])
    more = start + size < len(items)
    return chosen, (_encode(name(chosen[-1])) if more and chosen else None)


def _encode(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode(cursor: object) -> str:
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR:
        raise MCPError(
            types.INVALID_PARAMS, "invalid cursor: pass the nextCursor of the previous page unchanged"
        )
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MCPError(
            types.INVALID_PARAMS, "invalid cursor: pass the nextCursor of the previous page unchanged"
        ) from None
