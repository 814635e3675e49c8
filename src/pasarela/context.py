"""What a Python tool may ask for to call other tools: the same pipeline, as the same caller.

    @tool(read_only=True)
    async def overview(customer_id: str, ctx: CallContext) -> dict[str, Any]:
        customer = await ctx.call("get_customer_info", {"customer_id": customer_id})
        ...

A parameter typed `CallContext` is not part of the tool's input schema; the gateway fills it.
Each `ctx.call` is a child call through the whole pipeline (policy, limits, cache, audit), as
the principal that called the tool, under its request id. A failure raises the same
`PasarelaError` the agent would have got.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pasarela.errors import PasarelaError

CallTool = Callable[[str, Mapping[str, Any]], Awaitable[Any]]


class CallContext:
    def __init__(self, call_tool: CallTool | None) -> None:
        self._call_tool = call_tool

    async def call(self, tool: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """The result of calling `tool` with `arguments`, as the caller of this tool."""
        if self._call_tool is None:
            raise PasarelaError("this tool was called outside the gateway: it cannot call other tools")
        return await self._call_tool(tool, arguments or {})
