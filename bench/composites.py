"""What a composite costs: its steps against the same calls made one by one through the REST door.

    .venv/bin/python -m bench.composites [--calls 500]

Starts bench/upstream.py and `pasarela serve` with two composites over the upstream's
`get_thing`: `chain3` (three steps, each reading the one before) and `fan3` (three independent
steps). One caller, one call at a time (latency, not throughput), measures p50/p99 of:
the upstream directly; one REST call; three REST calls one after another; `chain3`; `fan3`.

- overhead per composite step = (chain3 − 3 × direct) / 3, against the REST door's own
  overhead per call (one REST call − direct): the target is no more than one per step;
- `fan3` against its slowest step (one REST call) and the sum of its steps (three).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable

import anyio

from bench.rawhttp import RawPool
from bench.run import gateway_process, percentile, tool_call, upstream_process

COMPOSITES = """composites:
  chain3:
    description: three steps, each reading the one before
    steps:
      a: {tool: get_thing, arguments: {thing_id: "'42'"}}
      b: {tool: get_thing, arguments: {thing_id: steps.a.thing_id}}
      c: {tool: get_thing, arguments: {thing_id: steps.b.thing_id}}
    result: steps.c
  fan3:
    description: three independent steps
    steps:
      a: {tool: get_thing, arguments: {thing_id: "'41'"}}
      b: {tool: get_thing, arguments: {thing_id: "'42'"}}
      c: {tool: get_thing, arguments: {thing_id: "'43'"}}
    result: "[steps.a, steps.b, steps.c]"
"""


async def timed(send: Callable[[], Awaitable[None]], calls: int) -> list[float]:
    for _ in range(50):  # warm up
        await send()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await send()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure(upstream: str, gateway: str, calls: int) -> dict[str, list[float]]:
    direct, rest = RawPool(upstream, 1), RawPool(gateway, 1)
    await direct.open()
    await rest.open()
    plain = RawPool.encode("GET", "/things/42", "127.0.0.1", {})
    one, chain, fan = tool_call("get_thing"), tool_call("chain3"), tool_call("fan3")

    async def ok(pool: RawPool, request: bytes) -> None:
        status = await pool.send(request)
        if status != 200:
            raise RuntimeError(f"answered {status}")

    async def three() -> None:
        for _ in range(3):
            await ok(rest, one)

    try:
        return {
            "direct": await timed(lambda: ok(direct, plain), calls),
            "rest, one call": await timed(lambda: ok(rest, one), calls),
            "rest, three calls one by one": await timed(three, calls),
            "chain3 (3 dependent steps)": await timed(lambda: ok(rest, chain), calls),
            "fan3 (3 independent steps)": await timed(lambda: ok(rest, fan), calls),
        }
    finally:
        await direct.close()
        await rest.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    with upstream_process() as upstream, gateway_process(upstream, extra=COMPOSITES) as gateway:
        results = anyio.run(measure, upstream, gateway, args.calls, backend_options={"use_uvloop": True})
    p50 = {name: percentile(samples, 0.5) for name, samples in results.items()}
    print("| what | p50 ms | p99 ms |\n|---|---|---|")
    for name, samples in results.items():
        print(f"| {name} | {p50[name]:.2f} | {percentile(samples, 0.99):.2f} |")
    door = p50["rest, one call"] - p50["direct"]
    per_step = (p50["chain3 (3 dependent steps)"] - 3 * p50["direct"]) / 3
    print(f"\nREST door overhead per call: {door:.2f} ms; composite overhead per step: {per_step:.2f} ms")
    print(
        f"fan3: {p50['fan3 (3 independent steps)']:.2f} ms against its slowest step "
        f"{p50['rest, one call']:.2f} ms and the sum of its steps {3 * p50['rest, one call']:.2f} ms"
    )


if __name__ == "__main__":
    main()
