"""Discovery mode over MCP, with the official client against a running `pasarela serve`:
tools/list shows search_tools, call_tool and the always-visible tools; tools/call of
call_tool is the named tool's call, audited under its real name."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pasarela.audit import search
from pasarela.config import load_config
from pasarela.state import open_state
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import serving
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def audited(config: Path) -> list[tuple[str, str]]:
    loaded = load_config(config, environ=ENV)
    store = await open_state(loaded.settings.state, loaded.base_dir)
    try:
        return [(r["tool"], r["outcome"]) for r in await search(store, principal="reader", limit=100)]
    finally:
        await store.aclose()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_search_then_call_over_mcp(tmp_path: Path, mode: str) -> None:
    extra = f"state: sqlite:///{tmp_path / 'state.db'}\ntool_search: {{roles: [reader], always_visible: [greet]}}\n"
    with ThreadedServer(RecordingUpstream()) as upstream:
        port = free_port()
        config = write_config(tmp_path, upstream.url, port=port, extra=extra)
        with serving(config, port, ENV) as url:
            async with mcp_http_client(f"{url}/mcp", READER_KEY, mode=mode) as client:
                listed = [t.name for t in (await client.list_tools()).tools]
                found = await client.call_tool("search_tools", {"query": "say hello to someone", "limit": 2})
                called = await client.call_tool(
                    "call_tool", {"name": "getItem", "arguments": {"item_id": "9"}}
                )
                denied = await client.call_tool(
                    "call_tool", {"name": "createItem", "arguments": {"name": "x"}}
                )
                bad = await client.call_tool("search_tools", {"limit": 2})
                direct = await client.call_tool("getItem", {"item_id": "10"})  # still allowed: policy decides
            async with mcp_http_client(f"{url}/mcp", WRITER_KEY, mode=mode) as client:
                everything = [t.name for t in (await client.list_tools()).tools]
    assert listed == ["search_tools", "call_tool", "greet"]
    assert not found.is_error and found.structured_content is not None
    tools = found.structured_content["tools"]
    assert tools[0]["name"] == "greet" and "inputSchema" in tools[0]
    assert len(tools) <= 2
    assert not called.is_error and called.structured_content is not None
    assert called.structured_content["path"] == "/items/9"
    for refused, code in ((denied, "denied"), (bad, "invalid_arguments")):
        assert refused.is_error
        assert json.loads(refused.content[0].text)["code"] == code  # type: ignore[union-attr]
    assert not direct.is_error
    assert len(everything) == 16 and "search_tools" not in everything
    records = await audited(config)
    assert ("getItem", "ok") in records and ("createItem", "denied") in records
    assert all(tool not in ("call_tool", "search_tools") for tool, _ in records)


async def test_search_then_call_over_stdio(tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters

    from tests.conftest import REPO
    from tests.helpers.processes import child_env

    extra = f"state: sqlite:///{tmp_path / 'state.db'}\ntool_search: {{principals: [reader]}}\n"
    with ThreadedServer(RecordingUpstream()) as upstream:
        config = write_config(tmp_path, upstream.url, extra=extra)
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "pasarela", "stdio", "-c", str(config), "--as", "reader"],
            env=child_env(ENV),
            cwd=REPO,
        )
        async with Client(params) as client:
            listed = [t.name for t in (await client.list_tools()).tools]
            found = await client.call_tool("search_tools", {"query": "greet someone by name"})
            called = await client.call_tool("call_tool", {"name": "greet", "arguments": {"name": "stdio"}})
    assert listed == ["search_tools", "call_tool"]
    assert found.structured_content is not None and found.structured_content["tools"][0]["name"] == "greet"
    assert called.structured_content == {"text": "Hello, stdio!", "shout": False}
