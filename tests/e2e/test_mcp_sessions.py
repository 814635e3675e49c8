"""Issue 10: one agent cannot fill the MCP session table (a running `pasarela serve`).

Agent A opens sessions with raw `initialize` requests until it is refused; agent B, with the
official MCP client, can still initialize and call a tool.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.gateway import ENV, NOBODY_KEY, READER_KEY, WRITER_KEY, bearer, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import serving
from tests.helpers.raw_mcp import INITIALIZE
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream, echo

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SESSIONS = "{per_principal: 3, open_rate: 5/minute}"
STREAMS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    recorder = RecordingUpstream(echo)
    with ThreadedServer(recorder) as upstream:
        port = free_port()
        config = write_config(tmp_path_factory.mktemp("sessions"), upstream.url, port=port)
        text = config.read_text().replace(
            f"server: {{host: 127.0.0.1, port: {port}}}",
            f"server: {{host: 127.0.0.1, port: {port}, mcp_sessions: {SESSIONS}}}",
        )
        config.write_text(text)
        with serving(config, port, ENV) as url:
            yield url


def initialize(url: str, key: str) -> httpx.Response:
    return httpx.post(f"{url}/mcp", json=INITIALIZE, headers={**bearer(key), **STREAMS}, timeout=10)


def ping(url: str, key: str, session: str) -> httpx.Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    headers = {**bearer(key), **STREAMS, "Mcp-Session-Id": session}
    return httpx.post(f"{url}/mcp", json=body, headers=headers, timeout=10)


async def test_one_agent_cannot_fill_the_session_table(gateway_url: str) -> None:
    opened: list[str] = []
    refused: httpx.Response | None = None
    for _ in range(50):
        response = initialize(gateway_url, READER_KEY)
        if response.status_code != 200:
            refused = response
            break
        opened.append(response.headers["mcp-session-id"])
    # A is refused for opening too fast (5/minute), with a JSON-RPC error carrying the problem.
    assert refused is not None and len(opened) == 5
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    body = refused.json()
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == -32000
    assert body["error"]["data"]["type"] == "urn:pasarela:problem:rate_limited"
    assert body["error"]["data"]["limit"] == "5/minute"
    assert "reuse the session" in body["error"]["message"]
    # Never more than 3 open for A: its least recently used idle sessions were closed.
    assert [ping(gateway_url, READER_KEY, s).status_code for s in opened] == [404, 404, 200, 200, 200]

    # B is unaffected: the official client initializes, lists and calls a tool.
    async with mcp_http_client(f"{gateway_url}/mcp", WRITER_KEY) as client:
        result = await client.call_tool("greet", {"name": "Ada"})
        assert not result.is_error, result


def test_a_busy_session_is_never_evicted(gateway_url: str) -> None:
    """A principal whose sessions are all busy (an open stream each) is refused, not cut off."""
    key = WRITER_KEY  # its cap: 3 sessions
    sessions = [initialize(gateway_url, key).headers["mcp-session-id"] for _ in range(3)]
    with httpx.Client(timeout=10) as http:
        streams = [
            http.stream("GET", f"{gateway_url}/mcp", headers={**bearer(key), **STREAMS, "Mcp-Session-Id": s})
            for s in sessions
        ]
        opened = [stream.__enter__() for stream in streams]
        try:
            assert all(r.status_code == 200 for r in opened)
            refused = initialize(gateway_url, key)
            assert refused.status_code == 429, refused.text
            assert "all busy" in refused.json()["error"]["message"]
        finally:
            for stream in streams:
                stream.__exit__(None, None, None)
    for session in sessions:
        assert ping(gateway_url, key, session).status_code == 200


def test_the_global_cap_takes_several_principals_to_reach(tmp_path: Path) -> None:
    """max 4, per_principal 2: one agent opening ten sessions holds two; it takes two agents to fill it."""
    with ThreadedServer(RecordingUpstream(echo)) as upstream:
        port = free_port()
        config = write_config(tmp_path, upstream.url, port=port)
        config.write_text(
            config.read_text().replace(
                f"server: {{host: 127.0.0.1, port: {port}}}",
                f"server: {{host: 127.0.0.1, port: {port}, "
                "mcp_sessions: {max: 4, per_principal: 2, open_rate: 100/minute}}",
            )
        )
        with serving(config, port, ENV) as url:
            alone = [initialize(url, READER_KEY).status_code for _ in range(10)]
            assert alone == [200] * 10, "its own idle sessions make room: the table never fills"
            assert [initialize(url, WRITER_KEY).status_code for _ in range(2)] == [200, 200]
            # Two principals at their caps fill the table: only now is a third refused.
            assert initialize(url, NOBODY_KEY).status_code == 503
