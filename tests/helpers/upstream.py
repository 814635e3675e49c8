"""An upstream that records every request exactly as it arrived on the wire."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import anyio
from starlette.types import Receive, Scope, Send


@dataclass
class Seen:
    method: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Behaviour = Callable[[Seen], Reply]


def echo(seen: Seen) -> Reply:
    return Reply(200, {"method": seen.method, "path": seen.raw_path, "query": seen.query})


class RecordingUpstream:
    def __init__(self, behaviour: Behaviour = echo) -> None:
        self.seen: list[Seen] = []
        self.behaviour = behaviour

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen = Seen(
            method=scope["method"],
            raw_path=scope["raw_path"].decode("latin-1"),
            query=parse_qsl(scope["query_string"].decode(), keep_blank_values=True),
            headers={k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
        )
        self.seen.append(seen)
        reply = self.behaviour(seen)
        if reply.delay:
            await anyio.sleep(reply.delay)
        if isinstance(reply.body, bytes | str):
            payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
            content_type = reply.headers.get("content-type", "text/plain")
        else:
            payload = json.dumps(reply.body).encode()
            content_type = "application/json"
        headers = [(b"content-type", content_type.encode())]
        headers += [(k.encode(), v.encode()) for k, v in reply.headers.items() if k != "content-type"]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
