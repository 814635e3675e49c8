"""A real MCP server (the official SDK's MCPServer) for the upstream-MCP connector tests.

`python -m tests.connectors.upstream_mcp_server` serves it over stdio; `app()` is its
Streamable HTTP app (with an optional bearer token check) for a threaded server.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, ToolAnnotations
from starlette.types import ASGIApp, Receive, Scope, Send

server: MCPServer[Any] = MCPServer("upstream-crm")
CALLS: list[str] = []


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def lookup_customer(customer_id: str) -> dict[str, str]:
    """Find a customer by id."""
    CALLS.append(customer_id)
    return {"customer_id": customer_id, "name": "John Doe"}


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def fail() -> str:
    """Always fails."""
    raise ValueError("upstream broke, token=upstream-secret-value")


@server.tool()
def refuse(account: str) -> str:
    """Refuses with a JSON-RPC error, as a server does for a request it will not serve."""
    raise MCPError(INVALID_PARAMS, f"no account {account}")


@server.tool()
async def export(steps: int, ctx: Context) -> dict[str, int]:
    """A slow export that reports its progress."""
    for step in range(steps):
        await ctx.report_progress(step, steps, f"exported part {step + 1} of {steps}")
        await anyio.sleep(0.2)
    return {"parts": steps}


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def trace_context(ctx: Context) -> dict[str, Any]:
    """The W3C trace context this request carried in its `_meta`."""
    meta: dict[str, Any] = dict(ctx.request_context.meta or {})
    return {"traceparent": meta.get("traceparent"), "tracestate": meta.get("tracestate")}


def app(token: str | None = None) -> ASGIApp:
    inner = server.streamable_http_app(
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    if token is None:
        return inner

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"no"})
                return
        await inner(scope, receive, send)

    return guarded


if __name__ == "__main__":
    server.run("stdio")
