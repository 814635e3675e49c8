"""Benchmark: one gRPC call directly, and the same call through Pasarela's REST door.

    .venv/bin/python -m bench.grpc_overhead [--calls 2000] [--concurrency 1 16]

Starts the tests' Lab server (a real grpcio server, dynamic messages, its own process) and
`pasarela serve` with a `grpc:` backend by reflection (audit on, as shipped), then for each
concurrency runs a closed loop of `--calls` Echo calls with a small message: directly with a
grpc.aio client (the gateway's own credential as metadata), and as `POST
/v1/tools/Echo:call` with the benchmarks' raw HTTP client (bench/rawhttp.py). Prints p50/p99 and throughput, and what the gateway adds.
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
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from tests.connectors.grpc.lab_server import TOKEN, LabServer, compile_descriptor_set
from tests.helpers.processes import served
from tests.helpers.servers import free_port

from bench.rawhttp import RawPool
from bench.run import ROOT, percentile

KEY = "bench-key-0123456789"
MESSAGE = {"text": "hello", "i64": "42", "color": "RED", "nested": {"id": "n-1", "level": 2}}


def serve_lab(descriptor_set: Path, port: int) -> None:
    """The Lab server alone, until killed (run in a child process)."""
    with LabServer(descriptor_set, port=port):
        while True:
            time.sleep(3600)


def write_config(directory: Path, target: str, port: int) -> Path:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    path = directory / "pasarela.yaml"
    path.write_text(
        f"""version: 1
server: {{host: 127.0.0.1, port: {port}}}
state: sqlite:///{directory / "state.db"}
identity:
  api_keys: [{{principal: bench, key_sha256: "{digest}", roles: [bench]}}]
backends:
  lab:
    grpc: {target}
    auth: {{bearer: "{TOKEN}"}}
    timeout: 5s
    tools: {{include: [testing.v1.Lab], rename: {{testing.v1.Lab.Echo: Echo}}}}
access: {{bench: ["*"]}}
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


async def measure(target: str, gateway: str, descriptors: bytes, calls: int, concurrency: int) -> list[str]:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptors).file:
        pool.Add(file)
    everything = message_factory.GetMessageClass(pool.FindMessageTypeByName("testing.v1.Everything"))
    request = json_format.ParseDict(MESSAGE, everything())
    rows = []
    async with grpc.aio.insecure_channel(target) as channel:
        echo = channel.unary_unary(
            "/testing.v1.Lab/Echo",
            request_serializer=everything.SerializeToString,
            response_deserializer=everything.FromString,
        )
        metadata = (("authorization", f"Bearer {TOKEN}"),)

        async def direct() -> None:
            answer = await echo(request, metadata=metadata, timeout=5)
            json_format.MessageToDict(answer)  # a client wants JSON too

        rest = RawPool(gateway, concurrency)  # a client that costs little, so the figures are the server's
        await rest.open()
        body = json.dumps({"arguments": MESSAGE}).encode()
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        encoded = RawPool.encode("POST", "/v1/tools/Echo:call", "127.0.0.1", headers, body)
        try:

            async def through() -> None:
                status = await rest.send(encoded)
                if status != 200:
                    raise RuntimeError(f"the gateway answered {status}")

            results = {}
            for label, call in (("direct gRPC", direct), ("REST door → gRPC", through)):
                latencies, elapsed = await loop(call, calls, concurrency)
                results[label] = (percentile(latencies, 0.5), percentile(latencies, 0.99), calls / elapsed)
                rows.append(
                    f"| {label} | {concurrency} | {results[label][0]:.2f} | {results[label][1]:.2f} | {results[label][2]:,.0f} |"
                )
            added = results["REST door → gRPC"][0] - results["direct gRPC"][0]
            rows.append(f"| added by the gateway (p50) | {concurrency} | {added:.2f} | | |")
        finally:
            await rest.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--serve-lab", nargs=2, metavar=("DESCRIPTOR_SET", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_lab:
        serve_lab(Path(args.serve_lab[0]), int(args.serve_lab[1]))
        return
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        descriptor_set = compile_descriptor_set(directory / "lab.binpb")
        lab_port, gateway_port = free_port(), free_port()
        lab = subprocess.Popen(
            [sys.executable, "-m", "bench.grpc_overhead", "--serve-lab", str(descriptor_set), str(lab_port)],
            cwd=ROOT,
        )
        try:
            time.sleep(2)
            config = write_config(directory, f"127.0.0.1:{lab_port}", gateway_port)
            with served(config, gateway_port, {}) as gateway:
                rows = ["| path | in flight | p50 ms | p99 ms | calls/s |", "|---|---|---|---|---|"]
                for concurrency in args.concurrency:
                    rows += asyncio.run(
                        measure(
                            f"127.0.0.1:{lab_port}",
                            gateway.url,
                            descriptor_set.read_bytes(),
                            args.calls,
                            concurrency,
                        )
                    )
        finally:
            lab.kill()
            lab.wait()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
