"""Benchmark: the demo bank's seed question through the MCP door, per tool and whole.

    .venv/bin/python -m bench.demo_question [--rounds 50] [--postgres postgresql://…]

Starts `pasarela demo`, connects the official MCP client as the support bot and asks "what
is John Doe's account balance and are his loans in good standing?" `rounds` times: search
the CRM (REST), list his accounts and read each balance (SOAP), read recent transactions
(SQL), read his loans (GraphQL). Cacheable tools are served from the cache after the first
round, as they would be for one agent asking again; balances never are. Sequential calls:
latency, not throughput.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from pasarela.demo.runner import free_port


def _start(port: int, data: str, postgres: str | None) -> tuple[subprocess.Popen[str], str, str]:
    args = [sys.executable, "-m", "pasarela", "demo", "--port", str(port), "--data-dir", data]
    if postgres:
        args += ["--postgres", postgres]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    banner = ""
    while "API key (support-bot)" not in banner:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the demo did not start:\n{banner}")
        banner += line
    key = re.search(r"API key \(support-bot\): (\S+)", banner).group(1)  # type: ignore[union-attr]
    mcp_url = re.search(r"MCP URL:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
    return process, mcp_url, key


async def _ask(mcp_url: str, key: str, rounds: int) -> tuple[dict[str, list[float]], list[float]]:
    per_tool: dict[str, list[float]] = defaultdict(list)
    whole: list[float] = []
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http,
        Client(streamable_http_client(mcp_url, http_client=http)) as client,
    ):

        async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
            started = time.perf_counter()
            result = await client.call_tool(tool, arguments)
            per_tool[tool].append(time.perf_counter() - started)
            answer: dict[str, Any] | None = result.structured_content
            if result.is_error or answer is None:
                raise SystemExit(f"{tool} failed: {result.content}")
            return answer

        for _ in range(rounds):
            started = time.perf_counter()
            [john] = (await call("search_customers", {"name": "John Doe", "region": "EU"}))["customers"]
            accounts = (await call("get_customer_accounts", {"customer_id": john["customer_id"]}))["accounts"]
            for account in accounts:
                await call("get_account_balance", {"account_id": account["account_id"]})
            await call("recent_transactions", {"account_id": accounts[0]["account_id"], "limit": 5})
            await call("get_customer_loans", {"customer_id": john["customer_id"]})
            whole.append(time.perf_counter() - started)
    return per_tool, whole


def _ms(samples: list[float], quantile: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        process, mcp_url, key = _start(free_port(), data, args.postgres)
        try:
            per_tool, whole = anyio.run(_ask, mcp_url, key, args.rounds)
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"{args.rounds} rounds, transactions on {'PostgreSQL' if args.postgres else 'SQLite'}:")
    for tool, samples in per_tool.items():
        first = samples[0] * 1000
        print(
            f"  {tool:24} p50 {statistics.median(samples) * 1000:6.2f} ms  p99 {_ms(samples, 0.99):6.2f} ms"
            f"  (first call {first:6.2f} ms)"
        )
    print(
        f"  whole question ({sum(len(s) for s in per_tool.values()) // args.rounds} calls)"
        f"  p50 {statistics.median(whole) * 1000:6.2f} ms  p99 {_ms(whole, 0.99):6.2f} ms"
        f"  (first {whole[0] * 1000:6.2f} ms)"
    )


if __name__ == "__main__":
    main()
