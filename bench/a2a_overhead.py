"""Benchmark: one A2A message directly, and the same message through Pasarela's REST door.

    .venv/bin/python -m bench.a2a_overhead [--calls 1000] [--concurrency 1 16] [--durability writes|none]

Starts the tests' Desk agent twice (a real a2a-sdk server under uvicorn, its own process): once
with a card that says it streams, once with one that says it does not; and `pasarela serve` with
an `a2a:` backend for each (audit on, as shipped). Then, for each agent and concurrency, a closed
loop of `--calls` messages the agent answers at once (`echo …`, a message, not a task): directly
with a2a-sdk's client (the same client configuration the connector uses: streaming as the card
says, the gateway's bearer token), and as `POST /v1/tools/ask_<agent>:call` with the benchmarks'
raw HTTP client (bench/rawhttp.py). Prints p50/p99 and throughput, and what the gateway adds.

An A2A tool is a write as far as the gateway knows (A2A says nothing of side effects), so with
the audit's default `durability: writes` each call answers only once its audit record is
committed; `--durability none` measures the same without that wait.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import A2ACardResolver
from a2a.types import Message, Part, Role, SendMessageRequest
from tests.connectors.a2a.desk_agent import TOKEN, DeskAgent
from tests.helpers.processes import served
from tests.helpers.servers import free_port

from bench.rawhttp import RawPool
from bench.run import ROOT, percentile

KEY = "bench-key-0123456789"
TEXT = "echo which loan fits a retail customer who wants 25,000 for a car?"


def serve_agent(port: int, streaming: bool) -> None:
    """The Desk agent alone, until killed (run in a child process)."""
    with DeskAgent(streaming=streaming, port=port):
        while True:
            time.sleep(3600)


def write_config(directory: Path, agents: dict[str, str], port: int, durability: str) -> Path:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    backends = "".join(
        f'  {name}:\n    a2a: {url}\n    auth: {{bearer: "{TOKEN}"}}\n    timeout: 5s\n    retry: {{attempts: 1}}\n'
        for name, url in agents.items()
    )
    path = directory / "pasarela.yaml"
    path.write_text(
        f"""version: 1
server: {{host: 127.0.0.1, port: {port}}}
state: sqlite:///{directory / "state.db"}
identity:
  api_keys: [{{principal: bench, key_sha256: "{digest}", roles: [bench]}}]
backends:
{backends}access: {{bench: ["*"]}}
audit: {{durability: {durability}}}
logging: {{level: warning, format: json}}
"""
    )
    return path


async def loop(
    call: Callable[[], Awaitable[None]], calls: int, concurrency: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    for _ in range(50):  # warm up
        await call()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def measure(
    label: str, agent_url: str, tool: str, gateway: str, calls: int, concurrency: int
) -> list[str]:
    rows = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits) as http:
        card = await A2ACardResolver(http, agent_url).get_agent_card()
        streaming = card.capabilities.streaming
        client = ClientFactory(
            ClientConfig(httpx_client=http, streaming=streaming, polling=not streaming)
        ).create(card)

        async def direct() -> None:
            message = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=[Part(text=TEXT)])
            async for event in client.send_message(SendMessageRequest(message=message)):
                if event.WhichOneof("payload") != "message":
                    raise RuntimeError("the agent did not answer at once")

        rest = RawPool(gateway, concurrency)  # a client that costs little, so the figures are the server's
        await rest.open()
        body = json.dumps({"arguments": {"message": TEXT}}).encode()
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        encoded = RawPool.encode("POST", f"/v1/tools/{tool}:call", "127.0.0.1", headers, body)
        try:

            async def through() -> None:
                status = await rest.send(encoded)
                if status != 200:
                    raise RuntimeError(f"the gateway answered {status}")

            results = {}
            for path, call in ((f"direct A2A ({label})", direct), (f"REST door → A2A ({label})", through)):
                latencies, elapsed = await loop(call, calls, concurrency)
                results[path] = (percentile(latencies, 0.5), percentile(latencies, 0.99), calls / elapsed)
                p50, p99, rate = results[path]
                rows.append(f"| {path} | {concurrency} | {p50:.2f} | {p99:.2f} | {rate:,.0f} |")
            direct_p50, through_p50 = (value[0] for value in results.values())
            rows.append(
                f"| added by the gateway ({label}, p50) | {concurrency} | {through_p50 - direct_p50:.2f} | | |"
            )
        finally:
            await rest.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--durability", choices=["writes", "none"], default="writes")
    parser.add_argument("--serve-agent", nargs=2, metavar=("PORT", "STREAMING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_agent:
        serve_agent(int(args.serve_agent[0]), args.serve_agent[1] == "1")
        return
    agents = {"streamed": (free_port(), True), "plain": (free_port(), False)}
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.a2a_overhead",
                "--serve-agent",
                str(port),
                "1" if streaming else "0",
            ],
            cwd=ROOT,
        )
        for port, streaming in agents.values()
    ]
    rows = ["| path | in flight | p50 ms | p99 ms | calls/s |", "|---|---|---|---|---|"]
    try:
        time.sleep(3)
        urls = {name: f"http://127.0.0.1:{port}" for name, (port, _) in agents.items()}
        with tempfile.TemporaryDirectory() as scratch:
            gateway_port = free_port()
            config = write_config(Path(scratch), urls, gateway_port, args.durability)
            with served(config, gateway_port, {}) as gateway:
                for concurrency in args.concurrency:
                    for name, url in urls.items():
                        rows += asyncio.run(
                            measure(name, url, f"ask_{name}", gateway.url, args.calls, concurrency)
                        )
    finally:
        for child in children:
            child.kill()
            child.wait()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
