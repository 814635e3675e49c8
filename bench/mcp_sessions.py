"""Memory per MCP session: RSS of `pasarela serve` before and after opening N idle sessions.

    .venv/bin/python -m bench.mcp_sessions [--sessions 2000]

Opens sessions with raw `initialize` requests (each then idle, as a client that never
DELETEs leaves them), from enough principals that no per-principal cap is reached, and
prints the resident memory growth per session. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx
from tests.helpers.gateway import ENV, READER_KEY, bearer, write_config
from tests.helpers.processes import served
from tests.helpers.raw_mcp import INITIALIZE
from tests.helpers.servers import free_port

HEADERS = {"Accept": "application/json, text/event-stream", **bearer(READER_KEY)}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=2000)
    n = parser.parse_args().sessions
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = write_config(Path(tmp), "http://127.0.0.1:9", port=port)
        sessions = f"mcp_sessions: {{max: {n + 10}, per_principal: {n + 10}, open_rate: 1000000/minute}}"
        text = config.read_text().replace(
            f"server: {{host: 127.0.0.1, port: {port}}}",
            f"server: {{host: 127.0.0.1, port: {port}, {sessions}}}",
        )
        config.write_text(text + f"state: sqlite:///{tmp}/state.db\naudit: {{enabled: false}}\n")
        with served(config, port, ENV) as gateway, httpx.Client(base_url=gateway.url, timeout=30) as http:
            for _ in range(50):  # warm up: imports, first-request allocations
                http.post("/mcp", json=INITIALIZE, headers=HEADERS).raise_for_status()
            before = rss_kib(gateway.process.pid)
            for _ in range(n):
                http.post("/mcp", json=INITIALIZE, headers=HEADERS).raise_for_status()
            after = rss_kib(gateway.process.pid)
    growth = after - before
    print(f"{n} sessions: RSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB")
    print(f"per session: {growth / n:.1f} KiB ({growth / 1024:.1f} MiB in all)")


if __name__ == "__main__":
    main()
