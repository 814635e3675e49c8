"""Hostile 2026-07-28 `tools/call` retries, sent by hand: whatever `requestState` and
`inputResponses` hold, the answer is a JSON-RPC error, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.gateway import WRITER_KEY
from tests.helpers.processes import Served
from tests.helpers.raw_mcp import message_of
from tests.helpers.running import running_gateway

pytestmark = [pytest.mark.e2e]

MODERN = "2026-07-28"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with running_gateway(tmp_path_factory.mktemp("input-required-hostile")) as served:
        yield served


def modern_call(params: Any) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    }
    if isinstance(params, dict):
        params = {**params, "_meta": meta}
    return {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}


@pytest.mark.parametrize(
    "params",
    [
        {"name": "greet", "arguments": {"name": "Ada"}, "requestState": "made-up-token"},
        {"name": "greet", "arguments": {"name": "Ada"}, "requestState": 42},
        {"name": "greet", "arguments": {"name": "Ada"}, "requestState": "x" * 5000, "inputResponses": [1]},
        {"name": "greet", "inputResponses": {"elicitation-1": {"action": "accept"}}, "requestState": "t"},
        ["greet"],
    ],
    ids=["unknown-state", "state-not-a-string", "huge-state", "responses-for-nothing", "params-a-list"],
)
def test_a_retry_that_names_no_held_call_is_refused_cleanly(gateway: Served, params: Any) -> None:
    headers = {
        "Authorization": f"Bearer {WRITER_KEY}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Mcp-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": "greet",
    }
    answer = httpx.post(
        f"{gateway.url}/mcp", content=json.dumps(modern_call(params)), headers=headers, timeout=10
    )
    assert answer.status_code < 500, answer.text
    message = message_of(answer)
    assert message is not None and "error" in message, answer.text
    assert message["error"]["code"] in (-32600, -32602), message
