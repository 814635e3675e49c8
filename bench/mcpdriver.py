"""The MCP load driver every MCP figure uses: the official `mcp` client, N sessions, N callers.

Each caller is a closed loop on its own session (one call in flight per session), so "8
sessions" means 8 concurrent calls. bench/run.py and bench/contextforge.py share it, so
Pasarela and ContextForge are driven exactly alike.
"""

from __future__ import annotations

import contextlib
import sys
import time
from contextlib import AsyncExitStack
from typing import Any

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def open_sessions(
    stack: AsyncExitStack, url: str, headers: dict[str, str], count: int, mode: str = "auto"
) -> list[Client]:
    sessions = []
    for _ in range(count):
        for attempt in range(5):  # a gateway may refuse an opening under load: try again
            http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            client = Client(streamable_http_client(url, http_client=http), mode=mode)
            try:
                sessions.append(await stack.enter_async_context(client))
                break
            except Exception as exc:
                print(f"error opening a session (attempt {attempt + 1}): {exc}", file=sys.stderr, flush=True)
                await anyio.sleep(0.5)
    if len(sessions) < count:
        print(f"only {len(sessions)} of {count} sessions opened", file=sys.stderr, flush=True)
    return sessions


async def call(session: Client, tool: str, arguments: dict[str, Any]) -> None:
    result = await session.call_tool(tool, arguments)
    if result.is_error:
        raise RuntimeError(str(result.content)[:300])


async def sessions_loop(
    sessions: list[Client], tool: str, arguments: dict[str, Any], duration: float
) -> tuple[list[float], int, float]:
    """Every session calls `tool` back to back for `duration` seconds: (latencies, errors, elapsed)."""
    latencies: list[float] = []
    errors = 0
    seen: set[str] = set()
    for session in sessions:  # warm: connections, the gateway's caches (failures count below)
        for _ in range(5):
            with contextlib.suppress(Exception):
                await call(session, tool, arguments)
    started = time.perf_counter()
    deadline = started + duration

    async def caller(session: Client) -> None:
        nonlocal errors
        while (begun := time.perf_counter()) < deadline:
            try:
                await call(session, tool, arguments)
            except Exception as exc:
                errors += 1
                if (kind := f"{type(exc).__name__}: {exc}"[:200]) not in seen:  # each kind once
                    seen.add(kind)
                    print(f"error: {kind}", file=sys.stderr, flush=True)
                continue
            latencies.append(time.perf_counter() - begun)

    async with anyio.create_task_group() as group:
        for session in sessions:
            group.start_soon(caller, session)
    return latencies, errors, time.perf_counter() - started
