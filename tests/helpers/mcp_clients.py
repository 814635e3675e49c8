"""The official MCP client, authenticated with an API key."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPDeprecationWarning


@asynccontextmanager
async def mcp_http_client(
    url: str,
    key: str | None,
    *,
    mode: str = "auto",
    statuses: list[int] | None = None,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> AsyncIterator[Client]:
    """`statuses` collects the HTTP status of every response the client received; `headers` are
    sent with every request; `options` go to `Client` (callbacks, `log_level`…)."""
    headers = {**(headers or {}), **({"Authorization": f"Bearer {key}"} if key else {})}
    http = create_mcp_http_client(headers=headers)
    if statuses is not None:

        async def record(response: httpx2.Response) -> None:
            statuses.append(response.status_code)

        http.event_hooks["response"].append(record)
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode, **options) as client:
        yield client


async def subscribe_legacy(client: Client, uri: str, *, leave: bool = False) -> None:
    """`resources/subscribe` (or, with `leave`, `resources/unsubscribe`) of a 2025-11-25 session,
    without the SDK's warning that 2026-07-28 removed them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        if leave:
            await client.unsubscribe_resource(uri)
        else:
            await client.subscribe_resource(uri)
