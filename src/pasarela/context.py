"""What a Python tool may ask for to call other tools: the same pipeline, as the same caller.

    @tool(read_only=True)
    async def overview(customer_id: str, ctx: CallContext) -> dict[str, Any]:
        customer = await ctx.call("get_customer_info", {"customer_id": customer_id})
        ...

A parameter typed `CallContext` is not part of the tool's input schema; the gateway fills it.
Each `ctx.call` is a child call through the whole pipeline (policy, limits, cache, audit), as
the principal that called the tool, under its request id. A failure raises the same
`PasarelaError` the agent would have got. `await ctx.progress(0.5, "half way")` reports progress
(a job's owner sees it); `ctx.idempotency_key` is stable across attempts of the same call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pasarela.errors import PasarelaError

CallTool = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
Progress = Callable[[float | None, str | None], Awaitable[None]]


class CallContext:
    def __init__(
        self,
        call_tool: CallTool | None,
        *,
        idempotency_key: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._call_tool = call_tool
        # A key that stays the same on every attempt of this call (a job's runs, a client's
        # retries with its Idempotency-Key): apply the effect once per key.
        self.idempotency_key = idempotency_key
        self._progress = progress

    async def progress(self, fraction: float | None = None, message: str | None = None) -> None:
        """Say how far the work is (0..1) and what it is doing: a job stores it for its owner to
        see; elsewhere it goes nowhere."""
        if self._progress is not None:
            await self._progress(fraction, message)

    async def call(self, tool: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """The result of calling `tool` with `arguments`, as the caller of this tool."""
        if self._call_tool is None:
            raise PasarelaError("this tool was called outside the gateway: it cannot call other tools")
        return await self._call_tool(tool, arguments or {})
