"""Python tools the job tests run: a slow report that reports progress, an effect counted by key."""

from __future__ import annotations

import anyio

from pasarela import tool
from pasarela.context import CallContext

EFFECTS: dict[str, int] = {}  # idempotency key → times the effect was applied
RUNS: dict[str, int] = {"slow": 0, "flaky": 0}


@tool(read_only=True)
async def slow_report(steps: int, ctx: CallContext, pause: float = 0.05) -> dict[str, object]:
    """A report that takes `steps` pauses and says how far it is."""
    RUNS["slow"] += 1
    for step in range(steps):
        await ctx.progress(step / steps, f"section {step + 1} of {steps}")
        await anyio.sleep(pause)
    await ctx.progress(1.0, "done")
    return {"sections": steps}


@tool(idempotent=True)
async def apply_once(amount: int, ctx: CallContext) -> dict[str, object]:
    """An effect the backend applies once per idempotency key."""
    key = ctx.idempotency_key or "none"
    EFFECTS[key] = EFFECTS.get(key, 0) + 1
    return {"applied": amount, "key": key}


@tool(read_only=True)
async def refuse(reason: str) -> str:
    """Always refuses, as a backend rejecting a request does."""
    from pasarela.errors import UpstreamError

    raise UpstreamError(f"refused: {reason}", backend="jobs", upstream_status=400)


@tool(read_only=True)
async def refuse_and_keep(reason: str) -> str:
    """Refuses too; its failed jobs are kept (the default retention)."""
    from pasarela.errors import UpstreamError

    raise UpstreamError(f"refused: {reason}", backend="jobs", upstream_status=400)
