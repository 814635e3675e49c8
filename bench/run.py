"""Benchmark: the same call directly, through the REST door and through the MCP door.

    .venv/bin/python -m bench.run [--rate 200] [--duration 20] [--concurrency 32]
    .venv/bin/python -m bench.run --targets --mcp-closed 8 32 --workers 2   # MCP sessions only

Starts a fast upstream and `pasarela serve` as separate processes, then for each target
runs an open-loop phase at a fixed rate (latency measured from each request's *intended*
send time, so a stall cannot hide behind coordinated omission) and a closed-loop phase at
saturation. Prints p50/p99, throughput and the gateway/direct ratio; writes JSON to
bench/results/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import anyio
import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from tests.helpers.servers import free_port

from bench.mcpdriver import open_sessions, sessions_loop
from bench.rawhttp import RawPool

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789"
Caller = Callable[[], Awaitable[None]]


@dataclass
class Result:
    target: str
    phase: str
    offered_rate: float | None
    requests: int
    errors: int
    throughput: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(
    target: str, phase: str, rate: float | None, latencies: list[float], errors: int, elapsed: float
) -> Result:
    ms = [x * 1000 for x in latencies]
    return Result(
        target=target,
        phase=phase,
        offered_rate=rate,
        requests=len(latencies) + errors,
        errors=errors,
        throughput=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(ms, 0.50), 2),
        p90_ms=round(percentile(ms, 0.90), 2),
        p99_ms=round(percentile(ms, 0.99), 2),
        max_ms=round(max(ms) if ms else float("nan"), 2),
    )


class Recorder:
    """Latencies of successful calls, and a count of failed ones."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0

    async def __call__(self, call: Caller, since: float) -> None:
        try:
            await call()
        except Exception:
            self.errors += 1
            return
        self.latencies.append(time.perf_counter() - since)


async def open_loop(call: Caller, rate: float, duration: float) -> tuple[list[float], int, float]:
    record = Recorder()
    interval = 1.0 / rate
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for index in range(int(rate * duration)):
            intended = started + index * interval  # latency counts from here, not from the send
            delay = intended - time.perf_counter()
            if delay > 0:
                await anyio.sleep(delay)
            group.start_soon(record, call, intended)
    return record.latencies, record.errors, time.perf_counter() - started


async def closed_loop(call: Caller, concurrency: int, duration: float) -> tuple[list[float], int, float]:
    record = Recorder()
    started = time.perf_counter()
    deadline = started + duration

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await record(call, time.perf_counter())

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    return record.latencies, record.errors, time.perf_counter() - started


def write_config(
    directory: Path,
    upstream: str,
    port: int,
    *,
    audit: bool = True,
    durability: str = "writes",
    shared: str = "memory://",
    extra: str = "",
) -> Path:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    path = directory / "pasarela.yaml"
    path.write_text(
        f"""version: 1
server: {{host: 127.0.0.1, port: {port}}}
shared: {shared}
identity:
  api_keys: [{{principal: bench, key_sha256: "{digest}", roles: [bench]}}]
backends:
  bench: {{openapi: "{upstream}/openapi.json", base_url: "{upstream}", timeout: 5s}}
access: {{bench: ["*"]}}
logging: {{level: info, format: json}}
audit: {{enabled: {"true" if audit else "false"}, durability: {durability}}}
{extra}"""
    )
    return path


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


@contextmanager
def upstream_process() -> Iterator[str]:
    """bench/upstream.py in its own process; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.upstream", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/openapi.json", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def gateway_process(
    upstream_url: str,
    profile: Path | None = None,
    *,
    audit: bool = True,
    durability: str = "writes",
    workers: int = 1,
    shared: str | None = None,
    extra: str = "",
) -> Iterator[str]:
    """`pasarela serve` (with `workers` processes) in front of `upstream_url`; yields its URL."""
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Several workers need shared state all of them see (memory:// is refused).
    shared = shared or ("redis://127.0.0.1:6379/14" if workers > 1 else "memory://")
    with tempfile.TemporaryDirectory() as scratch:
        config = write_config(
            Path(scratch),
            upstream_url,
            gateway_port,
            audit=audit,
            durability=durability,
            shared=shared,
            extra=extra,
        )
        prefix = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else [sys.executable]
        gateway = subprocess.Popen(
            [*prefix, "-m", "pasarela", "serve", "-c", str(config), "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(gateway_url + "/healthz", gateway)
            yield gateway_url
        finally:
            stop(gateway)


@contextmanager
def processes(
    profile: Path | None,
    *,
    audit: bool = True,
    durability: str = "writes",
    workers: int = 1,
    shared: str | None = None,
) -> Iterator[tuple[str, str]]:
    with (
        upstream_process() as upstream_url,
        gateway_process(
            upstream_url, profile, audit=audit, durability=durability, workers=workers, shared=shared
        ) as gateway_url,
    ):
        yield upstream_url, gateway_url


async def mcp_closed(gateway_url: str, counts: list[int], duration: float) -> list[Result]:
    """Closed loops of N official-client sessions, one call in flight each (bench/mcpdriver.py)."""
    results = []
    for count in counts:
        async with AsyncExitStack() as stack:
            sessions = await open_sessions(
                stack, f"{gateway_url}/mcp", {"Authorization": f"Bearer {KEY}"}, count
            )
            latencies, errors, elapsed = await sessions_loop(
                sessions, "get_thing", {"thing_id": "42"}, duration
            )
        results.append(summarise(f"mcp-{count}-sessions", "closed", None, latencies, errors, elapsed))
        print(results[-1], flush=True)
    return results


def tool_call(tool: str) -> bytes:
    """A REST `:call` of `tool` for thing 42, as the bench principal."""
    return RawPool.encode(
        "POST",
        f"/v1/tools/{tool}:call",
        "127.0.0.1",
        {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        b'{"arguments": {"thing_id": "42"}}',
    )


async def run(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    with processes(
        args.profile,
        audit=not args.no_audit,
        durability=args.durability,
        workers=args.workers,
        shared=args.shared,
    ) as (upstream_url, gateway_url):
        async with AsyncExitStack() as stack:
            direct = RawPool(upstream_url, args.concurrency)
            rest = RawPool(gateway_url, args.concurrency)
            for pool in (direct, rest):
                await pool.open()
                stack.push_async_callback(pool.close)
            direct_request = RawPool.encode("GET", "/things/42", "127.0.0.1", {})
            rest_request, write_request = (tool_call(tool) for tool in ("get_thing", "put_thing"))
            sessions: list[Client] = []
            for _ in range(args.mcp_sessions if "mcp" in args.targets else 0):
                http = await stack.enter_async_context(
                    create_mcp_http_client(headers={"Authorization": f"Bearer {KEY}"})
                )
                sessions.append(
                    await stack.enter_async_context(
                        Client(streamable_http_client(f"{gateway_url}/mcp", http_client=http))
                    )
                )
            turn = iter(range(10**12))

            async def call_direct() -> None:
                if await direct.send(direct_request) != 200:
                    raise RuntimeError("direct call failed")

            async def call_rest() -> None:
                if await rest.send(rest_request) != 200:
                    raise RuntimeError("REST call failed")

            async def call_rest_write() -> None:
                if await rest.send(write_request) != 200:
                    raise RuntimeError("REST write failed")

            async def call_mcp() -> None:
                session = sessions[next(turn) % len(sessions)]
                result = await session.call_tool("get_thing", {"thing_id": "42"})
                if result.is_error:
                    raise RuntimeError(result.content)

            targets: dict[str, Caller] = {
                "direct": call_direct,
                "rest": call_rest,
                "rest-write": call_rest_write,
                "mcp": call_mcp,
            }
            for name in args.targets:
                call = targets[name]
                for _ in range(50):  # warm connections, caches and the JIT-less interpreter's branch paths
                    await call()
                latencies, errors, elapsed = await open_loop(call, args.rate, args.duration)
                results.append(summarise(name, "open", args.rate, latencies, errors, elapsed))
                print(results[-1], flush=True)
                latencies, errors, elapsed = await closed_loop(call, args.concurrency, args.duration)
                results.append(summarise(name, "saturation", None, latencies, errors, elapsed))
                print(results[-1], flush=True)
        results += await mcp_closed(gateway_url, args.mcp_closed, args.duration)
    return results


def report(results: list[Result]) -> str:
    by = {(r.target, r.phase): r for r in results}
    lines = [
        "| target | phase | offered | throughput/s | p50 ms | p90 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.target} | {r.phase} | {r.offered_rate or '-'} | {r.throughput} | {r.p50_ms} | {r.p90_ms} | {r.p99_ms} | {r.errors} |"
        for r in results
    ]
    direct_open, direct_sat = by.get(("direct", "open")), by.get(("direct", "saturation"))
    for target in ("rest", "mcp"):
        opened, saturated = by.get((target, "open")), by.get((target, "saturation"))
        if opened and direct_open:
            lines.append(
                f"\n{target}: added p50 {opened.p50_ms - direct_open.p50_ms:.2f} ms, "
                f"added p99 {opened.p99_ms - direct_open.p99_ms:.2f} ms at {opened.offered_rate}/s"
            )
        if saturated and direct_sat:
            lines.append(
                f"{target}: saturation throughput {saturated.throughput}/s = "
                f"{saturated.throughput / direct_sat.throughput:.2f} × direct"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop calls per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, default=32, help="workers at saturation")
    parser.add_argument("--mcp-sessions", type=int, default=8)
    parser.add_argument("--targets", nargs="*", default=["direct", "rest", "mcp"])
    parser.add_argument(
        "--mcp-closed",
        nargs="*",
        type=int,
        default=[],
        help="then closed loops of this many MCP sessions, one call in flight each (e.g. 8 32)",
    )
    parser.add_argument("--workers", type=int, default=1, help="pasarela serve --workers")
    parser.add_argument("--shared", help="shared: for the gateway (default memory://, redis:// with workers)")
    parser.add_argument("--profile", type=Path, help="run the gateway under cProfile, write the profile here")
    parser.add_argument("--no-audit", action="store_true", help="run the gateway with the audit trail off")
    parser.add_argument(
        "--durability",
        choices=["writes", "all", "none"],
        default="writes",
        help="audit.durability: which answers wait for their record's commit (target rest-write is a write)",
    )
    args = parser.parse_args()
    try:
        results = anyio.run(run, args, backend_options={"use_uvloop": True})  # the driver's own CPU, lowest
    except BaseExceptionGroup as group:
        leaves = []
        stack: list[BaseException] = [group]
        while stack:
            item = stack.pop()
            if isinstance(item, BaseExceptionGroup):
                stack.extend(item.exceptions)
            else:
                leaves.append(item)
        raise SystemExit(f"benchmark failed: {leaves!r}") from None
    text = report(results)
    print("\n" + text)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    machine = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
    (out / f"run-{stamp}.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "args": vars(args) | {"profile": str(args.profile)},
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
