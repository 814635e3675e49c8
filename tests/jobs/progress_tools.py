"""A Python tool that reports progress and answers at once (a plain call, never a job)."""

from __future__ import annotations

import anyio

from pasarela import tool
from pasarela.context import CallContext


@tool(read_only=True)
async def count_up(steps: int, ctx: CallContext) -> dict[str, object]:
    """Counts to `steps`, saying how far it is after each."""
    for step in range(steps):
        await ctx.progress((step + 1) / steps, f"step {step + 1} of {steps}")
        await anyio.sleep(0.01)
    return {"counted": steps}
