"""Benchmark: what tracing costs per call through the REST door — off, 1 % and 100 % sampling.

    .venv/bin/python -m bench.tracing [--rate 300] [--duration 10] [--runs 3] [--concurrency 16]

Starts the fast upstream (bench/upstream.py), a collector that accepts OTLP/HTTP exports and
discards them (its own process, so its CPU is not the gateway's), and for each mode
`pasarela serve` with the whole pipeline (audit on, as bench/run.py). Per mode: an open-loop
phase at a fixed rate (p50/p99 from each request's intended send time) and a closed-loop phase
at saturation, where the gateway process's CPU time (/proc/<pid>/stat) divided by the calls
answered is its CPU per call. Modes run in turn, `--runs` times, so drift hits all alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median

import anyio
from tests.helpers.servers import free_port

from bench.rawhttp import RawPool
from bench.run import (
    ROOT,
    closed_loop,
    open_loop,
    stop,
    summarise,
    tool_call,
    upstream_process,
    wait_ready,
    write_config,
)

MODES = {"off": None, "1%": 0.01, "100%": 1.0}
TICKS = os.sysconf("SC_CLK_TCK")

COLLECTOR = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/x-protobuf")]})
    await send({"type": "http.response.body", "body": b""})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False, http="httptools")
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


@contextmanager
def collector() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", COLLECTOR, str(port)], cwd=ROOT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/", process)
        yield f"http://127.0.0.1:{port}/v1/traces"
    finally:
        stop(process)


@contextmanager
def gateway(upstream: str, endpoint: str, sampling: float | None) -> Iterator[tuple[str, int]]:
    port = free_port()
    extra = (
        ""
        if sampling is None
        else f"telemetry:\n  tracing: {{exporter: otlp_http, endpoint: '{endpoint}', sampling: {sampling}}}\n"
    )
    with tempfile.TemporaryDirectory() as scratch:
        config = write_config(Path(scratch), upstream, port, extra=extra)
        process = subprocess.Popen(
            [sys.executable, "-m", "pasarela", "serve", "-c", str(config)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/healthz", process)
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            stop(process)


async def measure(url: str, pid: int, args: argparse.Namespace) -> dict[str, float]:
    pool = RawPool(url, args.concurrency)
    await pool.open()
    request = tool_call("get_thing")

    async def call() -> None:
        if await pool.send(request) != 200:
            raise RuntimeError("REST call failed")

    try:
        for _ in range(200):
            await call()
        latencies, errors, elapsed = await open_loop(call, args.rate, args.duration)
        opened = summarise("rest", "open", args.rate, latencies, errors, elapsed)
        before = cpu_seconds(pid)
        latencies, errors, elapsed = await closed_loop(call, args.concurrency, args.duration)
        spent = cpu_seconds(pid) - before
        saturated = summarise("rest", "saturation", None, latencies, errors, elapsed)
    finally:
        await pool.close()
    return {
        "p50_ms": opened.p50_ms,
        "p99_ms": opened.p99_ms,
        "errors": opened.errors + saturated.errors,
        "throughput": saturated.throughput,
        "cpu_us_per_call": round(spent / max(1, len(latencies)) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=300.0, help="open-loop calls per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16, help="connections at saturation")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with upstream_process() as upstream, collector() as endpoint:
        for run in range(args.runs):
            for mode, sampling in MODES.items():
                with gateway(upstream, endpoint, sampling) as (url, pid):
                    figures = anyio.run(measure, url, pid, args, backend_options={"use_uvloop": True})
                runs[mode].append(figures)
                print(f"run {run + 1} {mode}: {figures}", flush=True)
    off = median(r["cpu_us_per_call"] for r in runs["off"])
    lines = [
        f"| sampling | p50 ms at {args.rate:g}/s | p99 ms | saturation calls/s | gateway CPU per call | added CPU per call |",
        "|---|---|---|---|---|---|",
    ]
    for mode, found in runs.items():
        cpu = median(r["cpu_us_per_call"] for r in found)
        lines.append(
            f"| {mode} | {median(r['p50_ms'] for r in found):.2f} | {median(r['p99_ms'] for r in found):.2f} "
            f"| {median(r['throughput'] for r in found):.0f} | {cpu:.0f} µs | {cpu - off:+.0f} µs |"
        )
    text = "\n".join(lines)
    print("\n(medians of the runs)\n" + text)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    machine = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
    (out / f"tracing-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps({"machine": machine, "args": vars(args), "runs": runs}, indent=2)
    )


if __name__ == "__main__":
    main()
