"""Python tools for composite tests: one that records how many of its calls overlap."""

from __future__ import annotations

import anyio

from pasarela import CallContext, tool

IN_FLIGHT = {"now": 0, "max": 0}


@tool(read_only=True)
async def hold(seconds: float, tag: str = "") -> dict[str, str | int]:
    """Holds for a while, counting the calls in flight at once."""
    IN_FLIGHT["now"] += 1
    IN_FLIGHT["max"] = max(IN_FLIGHT["max"], IN_FLIGHT["now"])
    try:
        await anyio.sleep(seconds)
    finally:
        IN_FLIGHT["now"] -= 1
    return {"tag": tag, "overlap": IN_FLIGHT["max"]}


@tool(read_only=True)
def ids(count: int) -> list[str]:
    """A list to fan out over."""
    return [f"id-{n}" for n in range(count)]


@tool(read_only=True)
def fail_loudly() -> str:
    """Always fails (its backend's problem, not the caller's)."""
    raise RuntimeError("the credit bureau is down")


@tool(read_only=True)
async def greet_and_hold(name: str, ctx: CallContext) -> dict[str, object]:
    """Calls two other tools through the gateway, as its own caller."""
    hello = await ctx.call("greet", {"name": name})
    held = await ctx.call("hold", {"seconds": 0, "tag": name})
    return {"hello": hello["text"], "tag": held["tag"]}
