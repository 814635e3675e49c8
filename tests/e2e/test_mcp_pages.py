"""MCP lists come in pages: the official client follows nextCursor in both protocol eras; a
cursor that is not one, or whose item is gone, is refused with a clear error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp.shared.exceptions import MCPError

from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import serving
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    recorder = RecordingUpstream()
    with ThreadedServer(recorder) as upstream:
        port = free_port()
        config = write_config(tmp_path_factory.mktemp("pages"), upstream.url, port=port)
        text = config.read_text().replace(
            f"server: {{host: 127.0.0.1, port: {port}}}",
            f"server: {{host: 127.0.0.1, port: {port}, mcp_page_size: 2}}",
        )
        config.write_text(text)
        with serving(config, port, ENV) as url:
            yield url


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_client_walks_every_page(gateway_url: str, mode: str) -> None:
    async with mcp_http_client(f"{gateway_url}/mcp", WRITER_KEY, mode=mode) as client:
        names: list[str] = []
        cursor = None
        pages = 0
        while True:
            listed = await client.list_tools(cursor=cursor)
            assert len(listed.tools) <= 2
            names += [tool.name for tool in listed.tools]
            pages += 1
            cursor = listed.next_cursor
            if cursor is None:
                break
    assert len(names) == len(set(names)) and len(names) > 2, names
    assert pages == (len(names) + 1) // 2


async def test_each_principal_pages_through_what_it_may_see(gateway_url: str) -> None:
    async with mcp_http_client(f"{gateway_url}/mcp", READER_KEY) as client:
        first = await client.list_tools()
        second = await client.list_tools(cursor=first.next_cursor)
    seen = {t.name for t in first.tools} | {t.name for t in second.tools}
    assert seen <= {"getItem", "searchItems", "greet", "explode"}


@pytest.mark.parametrize("cursor", ["not a cursor!", "x" * 5000, "Z2hvc3RfdG9vbA"])  # the last: "ghost_tool"
async def test_a_bad_or_stale_cursor_is_a_clear_error(gateway_url: str, cursor: str) -> None:
    async with mcp_http_client(f"{gateway_url}/mcp", WRITER_KEY) as client:
        with pytest.raises(MCPError) as refused:
            await client.list_tools(cursor=cursor)
    assert refused.value.error.code == -32602
    assert "cursor" in refused.value.error.message
