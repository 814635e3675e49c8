"""A reverse proxy that adds an agent's credential to every request, and changes nothing else.

The MCP conformance suite (server mode) cannot send credentials, and the gateway refuses every
request without one; this stands where an agent's HTTP client would, so the suite meets the
gateway as an authenticated agent. Host, Origin and every other header go through unchanged
(the DNS-rebinding scenario depends on it); responses, streams included, come back as sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"})


class AuthProxy:
    def __init__(self, upstream: str, key: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.key = key
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        headers = [
            (name, value)
            for name, value in request.headers.raw
            if name.decode().lower() not in HOP_BY_HOP | {"authorization", "content-length"}
        ]
        headers.append((b"authorization", f"Bearer {self.key}".encode()))
        body = await request.body()
        target = self.upstream + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        sent = self.client.build_request(request.method, target, headers=headers, content=body)
        answer = await self.client.send(sent, stream=True)
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP | {"content-length"}}
        response = StreamingResponse(
            _relay(answer),
            status_code=answer.status_code,
            headers=kept,
            background=BackgroundTask(answer.aclose),
        )
        await response(scope, receive, send)


async def _relay(answer: httpx.Response) -> AsyncIterator[bytes]:
    async for chunk in answer.aiter_raw():
        yield chunk
