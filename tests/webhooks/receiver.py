"""A real webhook receiver for tests: a Starlette app under uvicorn in a thread, recording every
request and answering as the test scripts it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay: float = 0.0  # seconds before answering


# What to answer a request, given it and how many times its webhook-id arrived (this one included).
Script = Callable[[Received, int], Answer]


def always_ok(received: Received, seen: int) -> Answer:
    return Answer()


class Receiver:
    def __init__(self, script: Script = always_ok) -> None:
        self.script = script
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        received = Received(request.url.path, dict(request.headers), await request.body())
        with self._lock:
            self.received.append(received)
            seen = sum(1 for r in self.received if r.webhook_id == received.webhook_id)
        answer = self.script(received, seen)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return Response(answer.body, answer.status, headers=answer.headers)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def ids(self) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received]
