"""A gateway serving declared and federated MCP resources and prompts, under a real uvicorn in
the test's event loop (the runtime stays reachable: its audit trail, its state)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import uvicorn

from pasarela.assembly import Runtime, build_runtime
from pasarela.config import load_config
from pasarela.server import create_app
from pasarela.server.live import LiveRuntime
from tests.helpers.servers import free_port


@asynccontextmanager
async def running_gateway(config: Path, env: Mapping[str, str]) -> AsyncIterator[tuple[str, Runtime]]:
    """The gateway's base URL and its runtime, until the block ends."""
    async with running_live_gateway(config, env) as (url, live):
        yield url, live.runtime


@asynccontextmanager
async def running_live_gateway(
    config: Path, env: Mapping[str, str]
) -> AsyncIterator[tuple[str, LiveRuntime]]:
    """The same, with the runtime the doors serve from: `live.reload(...)` switches it."""
    live = LiveRuntime(await build_runtime(load_config(config, environ=env)))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(live), host="127.0.0.1", port=port, log_level="warning")
    )
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:  # noqa: ASYNC110 - uvicorn says so by a flag only
                await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}", live
        finally:
            server.should_exit = True
