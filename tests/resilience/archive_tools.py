"""A secondary system for fallback tests: the archive answers when the items service cannot."""

from __future__ import annotations

from pasarela import tool


@tool(read_only=True)
def item_archive(item_id: str) -> dict[str, str]:
    """The archived copy of an item."""
    return {"id": item_id, "from": "archive"}
