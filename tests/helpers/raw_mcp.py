"""MCP over Streamable HTTP by hand (legacy sessions): for JSON no SDK client would send."""

from __future__ import annotations

import json
from typing import Any

import httpx

PROTOCOL = "2025-06-18"
# The first message of a legacy (2025-06-18) session.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


def message_of(response: httpx.Response) -> Any:
    """The JSON-RPC message of a response, whether plain JSON or one SSE event; None if neither."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1]) if data else None
    try:
        return response.json()
    except ValueError:
        return None


class RawMcp:
    def __init__(self, client: httpx.Client, key: str) -> None:
        self.client = client
        self.headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "Mcp-Protocol-Version": PROTOCOL,
        }
        answer = self.post(json.dumps(INITIALIZE).encode())
        answer.raise_for_status()
        self.headers["Mcp-Session-Id"] = answer.headers["mcp-session-id"]
        self.post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')

    def post(self, body: bytes, **headers: str) -> httpx.Response:
        return self.client.post("/mcp", content=body, headers={**self.headers, **headers})

    def call_raw(self, tool: str, arguments_json: bytes, *, meta: bytes = b"") -> httpx.Response:
        """tools/call with `arguments_json` spliced in verbatim (so NaN, 2**70 ... arrive as written)."""
        extra = b',"_meta":' + meta if meta else b""
        body = (
            b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":'
            + json.dumps(tool).encode()
            + b',"arguments":'
            + arguments_json
            + extra
            + b"}}"
        )
        return self.post(body)
