"""HTTP/1.1 by hand over a socket: for bodies no polite client sends (huge, chunked, lying).

The sender keeps writing until the whole body is sent or the server answers or hangs up,
then reads the answer, so an early 413 is seen even while the client still had bytes to send.
"""

from __future__ import annotations

import select
import socket
from dataclasses import dataclass


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the server took before it answered


def _read_response(sock: socket.socket) -> RawResponse:
    data = b""
    sock.settimeout(30)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return RawResponse(status, headers, body[:length], 0)


def post_raw(
    port: int,
    path: str,
    headers: dict[str, str],
    *,
    total: int,
    chunked: bool,
    content_length: int | None = None,
    piece: bytes = b"[" * 65536,
) -> RawResponse:
    """POST `total` body bytes (repeats of `piece`), chunked or with `content_length` declared."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        if content_length is not None:
            lines.append(f"Content-Length: {content_length}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
        sent = 0
        try:
            while sent < total:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:  # the server answered (or hung up) before the body was complete
                    break
                sock.sendall(frame)
                sent += len(piece)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = _read_response(sock)
        response.sent = sent
        return response
