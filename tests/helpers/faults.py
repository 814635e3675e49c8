"""A fault-injecting HTTP upstream, driven deterministically by a script of faults.

Each request takes the next fault from the script (then the default): a reply (any status,
headers such as Retry-After, optional latency), a hang (never answers), or a connection reset
(RST, no response). Every request is counted, so tests assert what the backend really saw.
Plain asyncio streams rather than an ASGI server: resets and hangs must be real socket events.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from tests.helpers.servers import free_port


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Read the request, then never answer."""


@dataclass(frozen=True)
class Reset:
    """Read the request, then reset the connection."""


Fault = Answer | Hang | Reset

REASONS = {
    200: "OK",
    201: "Created",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FaultyUpstream:
    def __init__(self, default: Fault | None = None) -> None:
        self.port = free_port()
        self.default: Fault = default or Answer()
        self.script: deque[Fault] = deque()
        self.requests: list[tuple[str, str]] = []  # (method, path) as received
        self.rules: list[tuple[str, Fault]] = []  # a request whose path contains the text gets the fault
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def then(self, *faults: Fault) -> FaultyUpstream:
        with self._lock:
            self.script.extend(faults)
        return self

    def when(self, text: str, fault: Fault) -> FaultyUpstream:
        """Every request whose path (query included) contains `text` gets `fault`, before the script."""
        with self._lock:
            self.rules.append((text, fault))
        return self

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for _, p in self.requests if path is None or p.startswith(path))

    def _next(self, method: str, path: str) -> Fault:
        with self._lock:
            self.requests.append((method, path))
            ruled = next((fault for text, fault in self.rules if text in path), None)
            if ruled is not None:
                return ruled
            return self.script.popleft() if self.script else self.default

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)
                fault = self._next(method, path)
                if isinstance(fault, Hang):
                    await asyncio.sleep(3600)
                    return
                if isinstance(fault, Reset):
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                body = json.dumps(fault.body).encode()
                headers = {
                    "Content-Type": "application/json",
                    "Content-Length": str(len(body)),
                    **fault.headers,
                }
                status_line = f"HTTP/1.1 {fault.status} {REASONS.get(fault.status, 'Status')}\r\n"
                writer.write(
                    (status_line + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    def __enter__(self) -> FaultyUpstream:
        self._thread.start()

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout=10)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
