"""Resumable MCP streams (SEP-1699): a client whose stream drops mid-call reconnects with
`Last-Event-ID` and receives the answer it missed; another session cannot replay it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conformance.test_conformance import AGENT_KEY, federated_config
from tests.helpers.processes import serving
from tests.helpers.servers import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

VERSION = "2025-11-25"
HEADERS = {
    "Authorization": f"Bearer {AGENT_KEY}",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": VERSION,
}


async def open_session(http: httpx.AsyncClient, version: str = VERSION) -> str:
    hello = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    said = HEADERS | {"MCP-Protocol-Version": version}
    answer = await http.post("/mcp", json=hello, headers=said)
    assert answer.status_code == 200, answer.text
    session = answer.headers["mcp-session-id"]
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await http.post("/mcp", json=done, headers=said | {"mcp-session-id": session})).status_code == 202
    return session


async def events(response: httpx.Response) -> Any:
    """(id, data) of each SSE event as it arrives."""
    event_id, data = None, []
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "":
            yield event_id, "\n".join(data)
            event_id, data = None, []


async def test_a_dropped_stream_resumes_with_last_event_id(tmp_path: Path) -> None:
    port = free_port()
    with serving(federated_config(tmp_path, port), port, {}) as url:
        async with httpx.AsyncClient(base_url=url, timeout=15) as http:
            session = await open_session(http)
            call = {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "test_reconnection"},
            }
            mine = HEADERS | {"mcp-session-id": session}
            async with http.stream("POST", "/mcp", json=call, headers=mine) as answer:
                assert answer.headers["content-type"].startswith("text/event-stream")
                first_id, first_data = await anext(aiter(events(answer)))
            assert first_id and first_data == "", "the stream opens with a priming event"
            # The client went away before the answer (0.2 s later); it comes back for it.
            await anyio.sleep(0.6)
            other = await open_session(http)
            stranger = HEADERS | {"mcp-session-id": other, "Last-Event-ID": first_id}
            with anyio.move_on_after(1.5):
                async with http.stream("GET", "/mcp", headers=stranger) as replay:
                    async for _, data in events(replay):
                        assert '"id":7' not in data.replace(" ", ""), "another session replayed my answer"
            resumed = mine | {"Last-Event-ID": first_id}
            async with http.stream("GET", "/mcp", headers=resumed) as replay:
                assert replay.status_code == 200
                with anyio.fail_after(10):
                    async for _, data in events(replay):
                        if data:
                            message = json.loads(data)
                            if message.get("id") == 7:
                                break
    assert "Reconnection test completed" in message["result"]["content"][0]["text"]


@pytest.mark.parametrize(("negotiated", "primed"), [("2025-11-25", True), ("2025-06-18", False)])
async def test_priming_follows_the_sessions_version_not_a_requests_header(
    tmp_path: Path, negotiated: str, primed: bool
) -> None:
    """A client that negotiated 2025-11-25 reads priming events whatever version a later
    request's header repeats (the conformance suite sends 2025-03-26); an older session is not
    sent one."""
    port = free_port()
    with serving(federated_config(tmp_path, port), port, {}) as url:
        async with httpx.AsyncClient(base_url=url, timeout=15) as http:
            session = await open_session(http, negotiated)
            listing = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
            older = HEADERS | {"mcp-session-id": session, "MCP-Protocol-Version": "2025-03-26"}
            async with http.stream("POST", "/mcp", json=listing, headers=older) as answer:
                assert answer.headers["content-type"].startswith("text/event-stream")
                first_id, first_data = await anext(aiter(events(answer)))
    assert (bool(first_id) and first_data == "") is primed
