"""10,000 Python tools for bench/tools_list.py: `python: bench.many_tools:TOOLS`.

Each has a description and three typed parameters, like a real operation; none is ever called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pasarela import tool

COUNT = 10_000


def _make(number: int) -> Callable[..., Any]:
    async def operation(account_id: str, limit: int = 10, include_closed: bool = False) -> dict[str, Any]:
        return {"operation": number}

    return tool(
        name=f"operation_{number:05d}",
        description=f"Operation {number}: reads the records of an account (page of `limit`), closed ones too if asked.",
        read_only=True,
    )(operation)


TOOLS = [_make(number) for number in range(COUNT)]
