"""The MCP stdio door, for desktop clients that start the gateway as a subprocess.

The operator who starts the process chooses the principal (`--as` or an API key in
PASARELA_API_KEY); every call still goes through the full pipeline as that principal.
"""

from __future__ import annotations

from mcp.server.stdio import stdio_server

from pasarela.assembly import Runtime
from pasarela.identity import Principal
from pasarela.pipeline.call import Door
from pasarela.server.mcp import create_mcp_server


async def serve_stdio(runtime: Runtime, principal: Principal) -> None:
    server = create_mcp_server(
        lambda: runtime.gateway,
        runtime.config.redactor,
        lambda ctx: principal,
        max_depth=runtime.config.settings.server.max_nesting_depth,
        door=Door.STDIO,
    )
    try:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        await runtime.aclose()
