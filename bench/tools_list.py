"""Benchmark: MCP `tools/list` for a principal allowed 10,000 tools.

    .venv/bin/python -m bench.tools_list [--repeat 30] [--page-size 500]

`pasarela serve` with 10,000 Python tools (bench/many_tools.py) and one agent allowed all of
them; the official `mcp` client on one session times `tools/list` — the first page (what a
client that never pages sees) and the whole list walked with `nextCursor` — over HTTP on
loopback, `--repeat` times each, after two warm-up walks. Also printed: the JSON size of a page
and of the whole list. Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import mcp_types as types
from mcp import Client
from tests.helpers.servers import free_port

from bench.mcpdriver import open_sessions
from bench.run import KEY, ROOT, stop, wait_ready


def write_config(directory: Path, port: int, page_size: int) -> Path:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    path = directory / "pasarela.yaml"
    path.write_text(
        f"""version: 1
server: {{host: 127.0.0.1, port: {port}, mcp_page_size: {page_size}}}
state: sqlite:///{directory / "state.db"}
identity:
  api_keys: [{{principal: bench, key_sha256: "{digest}", roles: [bench]}}]
backends:
  many: {{python: "bench.many_tools:TOOLS"}}
access: {{bench: ["*"]}}
logging: {{level: warning, format: json}}
"""
    )
    return path


async def walk(client: Client, first_only: bool) -> tuple[float, int, int]:
    """Seconds to list (the first page, or every page), tools seen, JSON bytes received."""
    started = time.perf_counter()
    listed = await client.list_tools()
    tools, size = list(listed.tools), len(listed.model_dump_json(by_alias=True))
    while listed.next_cursor is not None and not first_only:
        listed = await client.list_tools(cursor=listed.next_cursor)
        tools += listed.tools
        size += len(listed.model_dump_json(by_alias=True))
    return time.perf_counter() - started, len(tools), size


async def parse_time(client: Client, first_only: bool) -> float:
    """What the client itself spends turning the answers' JSON into models (part of the times)."""
    pages = [await client.list_tools()]
    while pages[-1].next_cursor is not None and not first_only:
        pages.append(await client.list_tools(cursor=pages[-1].next_cursor))
    texts = [page.model_dump_json(by_alias=True) for page in pages]
    started = time.perf_counter()
    for text in texts:
        types.ListToolsResult.model_validate_json(text)
    return round((time.perf_counter() - started) * 1000, 2)


async def measure(url: str, repeat: int) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    async with AsyncExitStack() as stack:
        (client,) = await open_sessions(stack, f"{url}/mcp", {"Authorization": f"Bearer {KEY}"}, 1)
        for _ in range(2):
            await walk(client, first_only=False)
        for label, first_only in (("first page", True), ("whole list", False)):
            runs = [await walk(client, first_only) for _ in range(repeat)]
            times = sorted(seconds * 1000 for seconds, _, _ in runs)
            figures[label] = {
                "client_parse_ms": await parse_time(client, first_only),
                "tools": runs[0][1],
                "kib": round(runs[0][2] / 1024, 1),
                "p50_ms": round(statistics.median(times), 2),
                "p90_ms": round(times[int(len(times) * 0.9) - 1], 2),
                "min_ms": round(times[0], 2),
            }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        config = write_config(Path(scratch), port, args.page_size)
        gateway = subprocess.Popen(
            [sys.executable, "-m", "pasarela", "serve", "-c", str(config)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/healthz", gateway, timeout=120)
            figures = anyio.run(measure, f"http://127.0.0.1:{port}", args.repeat)
        finally:
            stop(gateway)
    print(json.dumps(figures, indent=2))
    head = f"| tools/list, page size {args.page_size} | tools | KiB | p50 | p90 | min | of which the client's parsing |"
    print(f"\n{head}\n|---|---|---|---|---|---|---|")
    for label, row in figures.items():
        print(
            f"| {label} | {row['tools']:.0f} | {row['kib']} | {row['p50_ms']} ms | {row['p90_ms']} ms "
            f"| {row['min_ms']} ms | {row['client_parse_ms']} ms |"
        )


if __name__ == "__main__":
    main()
