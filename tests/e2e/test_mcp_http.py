"""The official MCP client against a running `pasarela serve` over Streamable HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import serving
from tests.helpers.raw_mcp import INITIALIZE
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream, Reply, Seen, echo

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture(scope="module")
def upstream() -> Iterator[RecordingUpstream]:
    def behaviour(seen: Seen) -> Reply:
        return Reply(503, {"error": "maintenance"}) if seen.raw_path == "/items/broken" else echo(seen)

    recorder = RecordingUpstream(behaviour)
    with ThreadedServer(recorder) as server:
        recorder.url = server.url  # type: ignore[attr-defined]
        yield recorder


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory, upstream: RecordingUpstream) -> Iterator[str]:
    port = free_port()
    config = write_config(tmp_path_factory.mktemp("mcp"), upstream.url, port=port)  # type: ignore[attr-defined]
    with serving(config, port, ENV) as url:
        yield url


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_list_and_call_tools(gateway_url: str, upstream: RecordingUpstream, mode: str) -> None:
    async with mcp_http_client(f"{gateway_url}/mcp", READER_KEY, mode=mode) as client:
        listed = await client.list_tools()
        assert [t.name for t in listed.tools] == ["getItem", "searchItems", "greet", "explode"]
        greet = next(t for t in listed.tools if t.name == "greet")
        assert greet.input_schema["required"] == ["name"]
        assert greet.annotations is not None
        assert greet.annotations.read_only_hint is True

        result = await client.call_tool("getItem", {"item_id": "../admin"})
        assert not result.is_error
        assert result.structured_content is not None
        assert result.structured_content["path"] == "/items/..%2Fadmin"
        assert json.loads(result.content[0].text)["path"] == "/items/..%2Fadmin"  # type: ignore[union-attr]
        assert upstream.seen[-1].headers["authorization"] != f"Bearer {READER_KEY}"


async def test_failures_are_tool_errors_the_model_can_read(gateway_url: str) -> None:
    async with mcp_http_client(f"{gateway_url}/mcp", READER_KEY) as client:
        failing = await client.call_tool("getItem", {"item_id": "broken"})
        invalid = await client.call_tool("greet", {"name": 42})
        denied = await client.call_tool("createItem", {"name": "x"})
    for result, code in ((failing, "upstream_error"), (invalid, "invalid_arguments"), (denied, "denied")):
        assert result.is_error
        problem = json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert problem["code"] == code
    assert json.loads(failing.content[0].text)["upstream_status"] == 503  # type: ignore[union-attr]


async def test_unknown_tool_is_a_protocol_error(gateway_url: str) -> None:
    from mcp import MCPError

    async with mcp_http_client(f"{gateway_url}/mcp", READER_KEY) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("no_such_tool", {})
    assert caught.value.code == -32602


@pytest.mark.parametrize("key", [None, "not-a-key"])
async def test_without_a_valid_key_the_client_gets_401(gateway_url: str, key: str | None) -> None:
    statuses: list[int] = []
    # The SDK surfaces the refusal as an error (wrapped in task groups); the wire says 401.
    with pytest.raises(BaseException):  # noqa: PT011, B017
        async with mcp_http_client(f"{gateway_url}/mcp", key, statuses=statuses) as client:
            await client.list_tools()
    assert statuses
    assert set(statuses) == {401}
    plain = httpx.post(
        f"{gateway_url}/mcp", json={}, headers={"Authorization": f"Bearer {key}"} if key else {}
    )
    assert plain.status_code == 401


async def test_a_session_is_bound_to_the_principal_that_opened_it(gateway_url: str) -> None:
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as http:
        opened = await http.post(
            "/mcp", json=INITIALIZE, headers={**accept, "Authorization": f"Bearer {READER_KEY}"}
        )
        assert opened.status_code == 200
        session = opened.headers["mcp-session-id"]
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        common = {**accept, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
        await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers={**common, "Authorization": f"Bearer {READER_KEY}"},
        )
        hijack = await http.post(
            "/mcp", json=listing, headers={**common, "Authorization": f"Bearer {WRITER_KEY}"}
        )
        owner = await http.post(
            "/mcp", json=listing, headers={**common, "Authorization": f"Bearer {READER_KEY}"}
        )
    assert hijack.status_code == 404
    assert owner.status_code == 200
    assert "greet" in owner.text
