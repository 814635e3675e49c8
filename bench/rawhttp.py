"""A minimal HTTP/1.1 keep-alive client for benchmarks: pre-encoded requests, a pool of
connections, Content-Length bodies only. It costs the load generator a fraction of what
httpx does, so on a small machine the figures describe the server, not the client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit


class RawPool:
    def __init__(self, base_url: str, size: int) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.size = size
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self._idle.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def close(self) -> None:
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()

    @staticmethod
    def encode(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self, request: bytes) -> int:
        """Send one pre-encoded request; return the status code once the whole body arrived."""
        reader, writer = await self._idle.get()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
        except BaseException:
            writer.close()
            self._idle.put_nowait(await asyncio.open_connection(self.host, self.port))
            raise
        self._idle.put_nowait((reader, writer))
        return status


async def sse_events(base_url: str, path: str, headers: dict[str, str]) -> AsyncIterator[bytes]:
    """The `data:` payloads of a Server-Sent Events stream (chunked), as they arrive."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 80)
    try:
        writer.write(RawPool.encode("GET", path, f"{parts.hostname}:{parts.port}", headers))
        head = await reader.readuntil(b"\r\n\r\n")
        if int(head[9:12]) != 200:
            raise RuntimeError(f"the stream answered {head[:12]!r}")
        pending = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return
            pending += chunk[:-2]
            *complete, pending = pending.split(b"\n\n")
            for message in complete:
                for line in message.split(b"\n"):
                    if line.startswith(b"data: "):
                        yield line[6:]
    finally:
        writer.close()
