"""Stop a call when the agent that made it goes away.

An HTTP client that gives up (a timeout, a closed connection) gets no answer, so the work on its
behalf stops: the backend request, a composite's steps in flight. The call is recorded as
`cancelled` by the audit stage, as an MCP `notifications/cancelled` is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.types import Receive

T = TypeVar("T")


async def unless_disconnected(receive: Receive, work: Callable[[], Awaitable[T]]) -> tuple[bool, T | None]:
    """Run `work` until it ends or the client disconnects: `(True, result)` or `(False, None)`.

    Call it once the request's body has been read: from then on the server's `receive` only
    says that the client went away.
    """
    scope = anyio.CancelScope()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        scope.cancel()

    watcher = asyncio.ensure_future(watch())  # one task, lighter than a task group per call
    try:
        with scope:
            return True, await work()
        return False, None
    finally:
        watcher.cancel()
