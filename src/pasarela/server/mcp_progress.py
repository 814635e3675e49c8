"""`notifications/progress` for an MCP request that carries `_meta.progressToken`.

A tool reports `(fraction 0..1 or None, message or None)` (`ctx.progress` in Python tools, a
job's stored progress); MCP wants a `progress` that increases with every notification, and a
`total`. The fraction goes out as `progress` of `total: 1`; a report that does not move it
forward (a message alone, a repeated fraction) nudges it up by a hair, so that no report is
lost and none breaks the rule.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import structlog
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.shared.exceptions import NoBackChannelError

from pasarela.pipeline.call import Progress
from pasarela.pipeline.relay import current_channel

log = structlog.get_logger("pasarela.mcp")

UNDELIVERABLE = (anyio.ClosedResourceError, anyio.BrokenResourceError, NoBackChannelError)
NUDGE = 1e-6  # how far a report that does not advance the fraction moves `progress` on


def progress_token(ctx: ServerRequestContext[Any]) -> types.ProgressToken | None:
    """The request's `_meta.progressToken`, if the client asked for progress."""
    meta = ctx.meta
    if not meta:
        return None
    token = meta.get("progress_token")
    return token if isinstance(token, str | int) and not isinstance(token, bool) else None


class ProgressNotifier:
    """Sends one request's progress to its client, always increasing."""

    def __init__(
        self,
        session: ServerSession,
        token: types.ProgressToken,
        *,
        request_id: types.RequestId | None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.session = session
        self.token = token
        self.request_id = request_id  # None: the connection's own stream (the request has ended)
        self.meta = meta  # e.g. the related task, for progress of a 2025-11-25 task
        self.sent: float | None = None  # the last `progress` sent
        self.last: tuple[float | None, str | None] | None = None  # the last report heard
        self.silent = False

    def retarget(self, ctx: ServerRequestContext[Any]) -> None:
        """A later round of the same call (2026-07-28 input required): report on its request,
        with its token, from now on (nothing, if it asked for none)."""
        token = progress_token(ctx)
        self.session, self.request_id = ctx.session, ctx.request_id
        self.token = token if token is not None else self.token
        self.silent = token is None

    async def __call__(self, fraction: float | None, message: str | None) -> None:
        if self.silent:
            return
        if (fraction, message) == self.last:
            return  # nothing new (a job's progress looked at twice)
        self.last = (fraction, message)
        floor = -1.0 if self.sent is None else self.sent
        progress = min(1.0, max(0.0, fraction)) if fraction is not None else max(floor, 0.0)
        if progress <= floor:
            progress = floor + NUDGE
        self.sent = progress
        params = types.ProgressNotificationParams(
            progress_token=self.token, progress=progress, total=1.0, message=message, _meta=self.meta
        )
        related = str(self.request_id) if self.request_id is not None else None
        try:
            await self.session.send_notification(types.ProgressNotification(params=params), related)
        except UNDELIVERABLE as exc:  # a client gone away must not fail the call it made
            log.debug("mcp_progress_undelivered", error=f"{type(exc).__name__}: {exc}")


def progress_of(ctx: ServerRequestContext[Any]) -> Progress | None:
    """Where a call's progress reports go: to the client, if its request carried a token."""
    token = progress_token(ctx)
    if token is None:
        return None
    notifier = ProgressNotifier(ctx.session, token, request_id=ctx.request_id)
    # A call held across rounds (server/mcp_input_required.py) moves to each round's request.
    follow = getattr(current_channel(), "follow", None)
    if follow is not None:
        follow(notifier.retarget)
    return notifier
