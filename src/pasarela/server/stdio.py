"""The MCP stdio door, for desktop clients that start the gateway as a subprocess.

The operator who starts the process chooses the principal (`--as` or an API key in
PASARELA_API_KEY); every call still goes through the full pipeline as that principal. Tools run
as durable jobs and MCP tasks here as over HTTP, by workers inside this process (`jobs.workers`).
"""

from __future__ import annotations

import anyio
from mcp.server.stdio import stdio_server

from pasarela.assembly import Runtime
from pasarela.identity import Principal
from pasarela.pipeline.call import Door
from pasarela.server.app import create_jobs
from pasarela.server.live import LiveRuntime
from pasarela.server.mcp import create_mcp_server
from pasarela.server.mcp_content import McpContent
from pasarela.server.mcp_tasks import McpTasks


async def serve_stdio(runtime: Runtime, principal: Principal) -> None:
    max_depth = runtime.config.settings.server.max_nesting_depth
    jobs = create_jobs(LiveRuntime(runtime))
    tasks = McpTasks(
        jobs, runtime.config.redactor, lambda ctx: principal, door=Door.STDIO, max_depth=max_depth
    )
    content = McpContent(lambda: runtime, runtime.config.redactor, lambda ctx: principal, door=Door.STDIO)
    server = create_mcp_server(
        lambda: runtime.gateway,
        runtime.config.redactor,
        lambda ctx: principal,
        max_depth=max_depth,
        door=Door.STDIO,
        tasks=tasks,
        page_size=runtime.config.settings.server.mcp_page_size,
        content=content,
        discovery_of=lambda: runtime.discovery,
    )
    try:
        async with (
            stdio_server() as (read_stream, write_stream),
            tasks.running(),
            content.running(),
            anyio.create_task_group() as background,
        ):
            if jobs.worker is not None:
                background.start_soon(jobs.worker.run)
            await server.run(read_stream, write_stream, server.create_initialization_options())
            background.cancel_scope.cancel()  # running jobs are given back for another worker
    finally:
        await runtime.aclose()
