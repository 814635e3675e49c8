"""A real upstream MCP server (the SDK's MCPServer) that talks back during its calls: it logs,
reports progress, asks its client (the gateway) for sampling and elicitation, and records
being cancelled.

It serves both protocol eras: on 2025-11-25 it asks with server-to-client requests; on
2026-07-28 (which forbids them) it answers `InputRequiredResult` and reads the answers from
the retried call, as the protocol's multi-round-trip flow has it.

`python -m tests.helpers.asking_upstream` serves it over stdio; `app()` is its Streamable HTTP
app for a ThreadedServer.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
    SamplingMessage,
    TextContent,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel
from starlette.types import ASGIApp

server: MCPServer[Any] = MCPServer("asking-upstream")
# What the tests read (the server runs in a thread of the test process).
CANCELLED: list[str] = []
STARTED = threading.Event()


@server.tool()
async def chatty(steps: int, ctx: Context) -> dict[str, int]:
    """Logs at several levels and reports progress as it works."""
    await ctx.debug(f"debugging step 0 of {steps}")
    for step in range(steps):
        await ctx.info(f"working on step {step + 1} of {steps}")
        await ctx.report_progress(step + 1, steps, f"step {step + 1}")
    await ctx.warning("token=upstream-secret-value was used")
    return {"steps": steps}


def _modern(ctx: Context) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


@server.tool()
async def summarize(text: str, ctx: Context) -> dict[str, Any] | InputRequiredResult:
    """Asks the client's LLM to summarise `text` (sampling)."""
    params = CreateMessageRequestParams(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=f"Summarise: {text}"))],
        max_tokens=64,
        include_context="allServers",  # asks for more than it should get: the gateway drops it
    )
    if _modern(ctx):
        answer = (ctx.input_responses or {}).get("summary")
        if answer is None:
            return InputRequiredResult(input_requests={"summary": CreateMessageRequest(params=params)})
        assert isinstance(answer, CreateMessageResult)
        result = answer
    else:
        try:
            result = await ctx.session.create_message(
                params.messages,
                max_tokens=params.max_tokens,
                include_context=params.include_context,
                related_request_id=ctx.request_context.request_id,
            )
        except MCPError as exc:
            return {"refused": exc.error.message}
    # Still talking after the agent answered (on 2026-07-28 its first request has ended by now).
    await ctx.report_progress(1, 1, "summarised")
    await ctx.info("summarised")
    content = result.content
    return {"summary": content.text if isinstance(content, TextContent) else None, "model": result.model}


class Confirmation(BaseModel):
    confirm: bool
    reason: str = ""


@server.tool()
async def confirm(action: str, ctx: Context) -> dict[str, Any] | InputRequiredResult:
    """Asks the user to confirm `action` (elicitation)."""
    message = f"Really {action}?"
    if _modern(ctx):
        answer = (ctx.input_responses or {}).get("confirm")
        if answer is None:
            form = ElicitRequestFormParams(message=message, requested_schema=Confirmation.model_json_schema())
            return InputRequiredResult(input_requests={"confirm": ElicitRequest(params=form)})
        assert isinstance(answer, ElicitResult)
        return {"action": answer.action, "content": answer.content}
    try:
        elicited = await ctx.elicit(message, Confirmation)
    except MCPError as exc:
        return {"refused": exc.error.message}
    data = elicited.data.model_dump() if elicited.action == "accept" else None
    return {"action": elicited.action, "content": data}


@server.tool()
def lookup_product(product_id: str) -> dict[str, str]:
    """Fails as real servers do, in words (and with a credential it should not have echoed)."""
    raise ToolError(f"Error: Product {product_id} not found (auth: asking-upstream-token-3141)")


@server.tool()
async def linger(label: str) -> str:
    """Takes a minute, unless it is cancelled (which it records)."""
    STARTED.set()
    try:
        await anyio.sleep(60)
    except anyio.get_cancelled_exc_class():
        CANCELLED.append(label)
        raise
    return "done"


def app() -> ASGIApp:
    return server.streamable_http_app(
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )


if __name__ == "__main__":
    server.run("stdio")
