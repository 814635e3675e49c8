"""Memory under a huge request body: the gateway's RSS while 300 MB arrive, chunked.

    .venv/bin/python -m bench.body_limit_rss [--megabytes 300]

Starts `pasarela serve` (default `server.max_request_bytes`, 4 MiB), then sends each door a
chunked body with no Content-Length of the given size, and one that declares it, while
sampling the server's resident memory. A door that buffers before checking grows by the
body's size; one that counts while reading stays flat. Prints the figures; run by hand.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from tests.helpers.gateway import WRITER_KEY
from tests.helpers.raw_http import post_raw
from tests.helpers.running import running_gateway

HEADERS = {
    "Authorization": f"Bearer {WRITER_KEY}",
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=300)
    size = parser.parse_args().megabytes * 1024 * 1024
    with running_gateway(Path(tempfile.mkdtemp(prefix="pasarela-rss-"))) as served:
        pid = served.process.pid
        port = int(served.url.rsplit(":", 1)[1])
        print(f"gateway pid {pid}, RSS at rest {rss_mib(pid):.1f} MiB; body {size >> 20} MiB")
        for door, path in [("REST", "/v1/tools/greet:call"), ("MCP", "/mcp")]:
            for how, chunked in [("chunked, no length", True), ("Content-Length declared", False)]:
                before = rss_mib(pid)
                sampler = Sampler(pid)
                sampler.start()
                started = time.perf_counter()
                response = post_raw(
                    port,
                    path,
                    HEADERS,
                    total=size,
                    chunked=chunked,
                    content_length=None if chunked else size,
                    piece=b"[" * 65536,
                )
                elapsed = time.perf_counter() - started
                sampler.stop.set()
                sampler.join()
                print(
                    f"{door:4} {how:24} -> {response.status}; client wrote {response.sent >> 20} MiB "
                    f"in {elapsed:.2f} s; RSS {before:.1f} -> peak {sampler.peak:.1f} MiB "
                    f"(+{sampler.peak - before:.1f})"
                )


if __name__ == "__main__":
    main()
