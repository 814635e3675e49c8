"""The delay from a job's completion to its webhook reaching the owner's endpoint.

    .venv/bin/python -m bench.job_webhooks [--jobs 200] [--postgres postgresql://…]

`pasarela serve` (workers in the same process) with a webhook endpoint for the bench principal
on a local receiver; jobs of a trivial tool are started one after another (each waited for), and
each delay is the receiver's arrival time minus the job's `finished_at` (the same clock).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.helpers.servers import ThreadedServer, free_port

from bench.run import ROOT, percentile, wait_ready

KEY = "bench-key-0123456789"
SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
CONFIG = """version: 1
server: {{host: 127.0.0.1, port: {port}}}
state: {state}
identity:
  api_keys: [{{principal: bench, key_sha256: "{digest}", roles: [bench]}}]
backends:
  bench: {{python: bench.job_tools}}
access: {{bench: ["*"]}}
logging: {{level: warning, format: json}}
jobs: {{workers: 8, poll_interval: 100ms}}
webhooks:
  poll_interval: 100ms
  endpoints:
    inbox: {{principal: bench, url: "{receiver}/inbox", secret: "{secret}", events: ["job.*"]}}
"""


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()

    async def receive(self, request: Request) -> Response:
        now = time.time()
        body = orjson.loads(await request.body())
        with self.lock:
            self.at.setdefault(body["data"]["id"], now)
        return Response(status_code=204)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    arrivals = Arrivals()
    receiver_app = Starlette(routes=[Route("/inbox", arrivals.receive, methods=["POST"])])
    with tempfile.TemporaryDirectory() as scratch, ThreadedServer(receiver_app) as receiver:
        port = free_port()
        state = args.postgres or f"sqlite:///{Path(scratch) / 'state.db'}"
        config = Path(scratch) / "pasarela.yaml"
        digest = hashlib.sha256(KEY.encode()).hexdigest()
        config.write_text(
            CONFIG.format(port=port, state=state, digest=digest, receiver=receiver.url, secret=SECRET)
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        gateway = subprocess.Popen(
            [sys.executable, "-m", "pasarela", "serve", "-c", str(config)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url + "/healthz", gateway)
            delays = []
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as http:
                for n in range(args.jobs):
                    job = http.post("/v1/tools/noop:start", json={"arguments": {"n": n}}).json()["job"]
                    http.get(f"/v1/jobs/{job['id']}/result", params={"wait": "10s"})
                    finished = http.get(f"/v1/jobs/{job['id']}").json()["job"]["finished_at"]
                    deadline = time.monotonic() + 10
                    while job["id"] not in arrivals.at and time.monotonic() < deadline:
                        time.sleep(0.001)
                    done_at = dt.datetime.fromisoformat(finished.replace("Z", "+00:00")).timestamp()
                    delays.append((arrivals.at[job["id"]] - done_at) * 1000)
        finally:
            gateway.terminate()
            gateway.wait()
    store = "postgresql" if args.postgres else "sqlite"
    print(
        f"{store}: completion → webhook delivered, {len(delays)} jobs: "
        f"p50 {percentile(delays, 0.5):.1f} ms, p99 {percentile(delays, 0.99):.1f} ms"
    )


if __name__ == "__main__":
    main()
