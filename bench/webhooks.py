"""Delay from `Webhooks.notify` to the receiver getting the delivery, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.webhooks [--deliveries 300] [--gap 10ms] [--postgres URL]

A receiver (uvicorn in a thread, answering 204) notes when each webhook-id arrives; the delay
is from just before `notify` to that moment. Two ways of queueing:
- `same`: the notifying runtime runs the delivery loop (it is woken in-process);
- `other`: another `Webhooks` on its own connection queues, as another process would (the loop
  is woken by NOTIFY on PostgreSQL; on SQLite only its poll finds it: `poll_interval`, 1 s).
Each is run paced (one notify every `--gap`) and as a burst (all at once). PostgreSQL defaults
to PASARELA_TEST_POSTGRES; its webhook tables are dropped before and after.
"""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
import threading
import time
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.conftest import _reset_postgres
from tests.helpers.servers import ThreadedServer

from bench.run import percentile
from pasarela.config import load_config_text
from pasarela.state import open_state
from pasarela.webhooks import Webhooks

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/in", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        now = time.time()
        await request.body()
        with self.lock:
            self.at.setdefault(request.headers["webhook-id"], now)
        return Response(status_code=204)


def config(state: str, receiver: str, directory: Path) -> str:
    return f"""\
version: 1
state: {state}
identity: {{api_keys: [{{principal: bot, key_sha256: "{"0" * 64}"}}]}}
audit: {{enabled: false}}
webhooks:
  endpoints:
    hook: {{principal: bot, url: "{receiver}/in", secret: "{SECRET}", events: ["*"]}}
"""


async def measure(state: str, arrivals: Arrivals, url: str, way: str, count: int, gap: float) -> list[float]:
    directory = Path(tempfile.mkdtemp(prefix="pasarela-bench-"))
    loaded = load_config_text(config(state, url, directory), source="bench.yaml", base_dir=directory)
    stores = [await open_state(state, directory) for _ in range(2)]
    delivering = Webhooks.from_config(loaded, stores[0])
    queueing = delivering if way == "same" else Webhooks.from_config(loaded, stores[1])
    await delivering.start()
    await anyio.sleep(0.5)  # listening (PostgreSQL) and idle
    sent: dict[str, float] = {}
    try:
        for n in range(count):
            message = f"msg_{way}_{gap}_{n}_{time.time_ns()}"
            sent[message] = time.time()
            await queueing.notify("bot", "bench.tick", {"n": n}, message_id=message)
            if gap:
                await anyio.sleep(gap)
        deadline = time.monotonic() + 120
        while any(m not in arrivals.at for m in sent) and time.monotonic() < deadline:  # noqa: ASYNC110 (a thread fills it)
            await anyio.sleep(0.01)
    finally:
        await delivering.aclose()
        for store in stores:
            await store.aclose()
    return [(arrivals.at[m] - t) * 1000 for m, t in sent.items() if m in arrivals.at]


def report(label: str, delays: list[float], expected: int) -> None:
    lost = expected - len(delays)
    print(
        f"{label:<34} p50 {percentile(delays, 0.50):8.1f} ms   p99 {percentile(delays, 0.99):8.1f} ms"
        f"   max {max(delays, default=float('nan')):8.1f} ms" + (f"   NOT DELIVERED {lost}" if lost else "")
    )


async def main(count: int, gap: float, postgres: str | None) -> None:
    arrivals = Arrivals()
    stores = [("sqlite", f"sqlite:///{tempfile.mkdtemp(prefix='pasarela-bench-')}/state.db")]
    if postgres:
        problem = await _reset_postgres(postgres)
        if problem is None:
            stores.append(("postgresql", postgres))
        else:
            print(f"skipping PostgreSQL: {problem}")
    with ThreadedServer(arrivals.app) as server:
        for name, state in stores:
            for way in ("same", "other"):
                for label, pace in ((f"paced {gap * 1000:g} ms", gap), ("burst", 0.0)):
                    delays = await measure(state, arrivals, server.url, way, count, pace)
                    report(f"{name} {way} {label}", delays, count)
    if postgres and len(stores) == 2:
        await _reset_postgres(postgres)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between paced notifies")
    parser.add_argument("--postgres", default=os.environ.get("PASARELA_TEST_POSTGRES"))
    options = parser.parse_args()
    anyio.run(main, options.deliveries, options.gap, options.postgres, backend_options={"use_uvloop": True})
