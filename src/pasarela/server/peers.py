"""A worker's peers under `pasarela serve --workers N`, and passing them what is theirs.

A handshake-era MCP session (protocol 2025-xx, `Mcp-Session-Id`) lives in the memory of the
worker that opened it: the SDK keeps its streams and server task there. Its id names that
worker (`<index>-<uuid hex>`), and a request for it that lands on another worker is passed,
as it is, to the owner over the owner's Unix socket (in a directory only this user can
open); the answer, an SSE stream included, is passed back as it comes. Requests of the
stateless 2026 protocol and REST calls are served wherever they land.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import anyio
import orjson
from mcp_types import INVALID_REQUEST
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

# Not passed on: they describe one hop, not the request.
HOP_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade", b"content-length"}
)
_SESSION = re.compile(r"^(\d{1,2})-[0-9a-f]{32}$")


@dataclass(frozen=True)
class WorkerSlot:
    """Which worker this is (index of count) and where every worker's Unix socket is."""

    index: int
    count: int
    rundir: Path

    def socket_path(self, index: int) -> Path:
        return self.rundir / f"worker-{index}.sock"

    def session_id(self, uuid_hex: str) -> str:
        return f"{self.index}-{uuid_hex}"

    def owner(self, session_id: str) -> int | None:
        """The worker holding `session_id`, or None for an id no worker of ours made."""
        match = _SESSION.match(session_id)
        if match is None or int(match.group(1)) >= self.count:
            return None
        return int(match.group(1))


class Forwarder:
    """Passes one HTTP request to a peer worker and its answer back (one client per peer)."""

    def __init__(self, slot: WorkerSlot) -> None:
        self.slot = slot
        self._clients: dict[int, aiohttp.ClientSession] = {}

    def _client(self, index: int) -> aiohttp.ClientSession:
        client = self._clients.get(index)
        if client is None:
            connector = aiohttp.UnixConnector(path=str(self.slot.socket_path(index)))
            client = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None)
            )
            self._clients[index] = client
        return client

    async def __call__(self, index: int, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:  # the body limit was applied before this point
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k not in HOP_HEADERS
        ]
        target = scope["path"] + (
            ("?" + scope["query_string"].decode("latin-1")) if scope["query_string"] else ""
        )
        async with anyio.create_task_group() as group:
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            try:
                answer = await self._client(index).request(
                    scope["method"], f"http://worker{target}", data=bytes(body), headers=headers
                )
            except aiohttp.ClientError:
                # The owner is gone (restarting after a crash): so is the session, as MCP says.
                await session_not_found()(scope, receive, send)
                group.cancel_scope.cancel()
                return
            async with answer:
                start: Message = {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": [(k, v) for k, v in answer.raw_headers if k.lower() not in HOP_HEADERS],
                }
                await send(start)
                async for chunk in answer.content.iter_any():  # SSE events as they come
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            group.cancel_scope.cancel()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


def session_not_found() -> Response:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": "Session not found"}}
    return Response(orjson.dumps(body), status_code=404, media_type="application/json")


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    """A client that goes away ends the forwarded request (and a forwarded GET stream)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
