"""Jobs per second, queued to completed, for a trivial tool; and the enqueue rate.

    .venv/bin/python -m bench.jobs [--jobs 3000] [--postgres postgresql://…] [--workers 1 2]

Queues `--jobs` jobs of a Python tool that answers at once (straight into the store, as the
REST door's `:start` does after admission), then starts `pasarela worker` processes (each
running `jobs.workers` jobs at once) and waits until every job has completed. The rate is
jobs ÷ (last finished − first started), read from the jobs' own timestamps, so process start-up
is not counted. The audit is on (each run is a record). Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from sqlalchemy import func, select, text

from bench.run import ROOT
from pasarela.identity import Principal
from pasarela.jobs import JobStore
from pasarela.jobs.store import NewJob
from pasarela.state import open_state
from pasarela.state.tables import jobs

CONFIG = """version: 1
state: {state}
identity:
  api_keys: [{{principal: bench, key_sha256: "{digest}", roles: [bench]}}]
backends:
  bench: {{python: bench.job_tools}}
access: {{bench: ["*"]}}
logging: {{level: warning, format: json}}
jobs: {{workers: 64, poll_interval: 100ms, max_active_per_principal: 1000000}}
"""


async def enqueue(state_url: str, base: Path, count: int) -> float:
    store = await open_state(state_url, base, schema="upgrade")  # a bench database of an older run
    try:
        async with store.engine.begin() as db:  # a clean table for each run
            await db.execute(text("DELETE FROM pasarela_jobs"))
        queue = JobStore(store, max_active=count + 1)
        principal = Principal("bench", frozenset({"bench"}))
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for chunk in range(16):
                group.start_soon(_enqueue_some, queue, principal, range(chunk, count, 16))
        return count / (time.perf_counter() - started)
    finally:
        await store.aclose()


async def _enqueue_some(queue: JobStore, principal: Principal, numbers: range) -> None:
    for n in numbers:
        await queue.create(NewJob(principal, "noop", {"n": n}, "rest", f"bench-{n}", None, 1, 60.0, 3600.0))


async def progress(state_url: str, base: Path) -> tuple[int, float | None, float | None]:
    store = await open_state(state_url, base, schema="upgrade")  # a bench database of an older run
    try:
        async with store.engine.connect() as db:
            done, first, last = (
                await db.execute(
                    select(func.count(), func.min(jobs.c.started_at), func.max(jobs.c.finished_at)).where(
                        jobs.c.status == "completed"
                    )
                )
            ).one()
        return int(done), first, last
    finally:
        await store.aclose()


def measure(state_url: str, base: Path, config: Path, count: int, workers: int) -> tuple[float, float]:
    enqueue_rate = anyio.run(enqueue, state_url, base, count)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pasarela", "worker", "-c", str(config)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + 300
        while True:
            done, first, last = anyio.run(progress, state_url, base)
            if done >= count or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        for process in processes:
            process.terminate()
            process.wait()
    if done < count or first is None or last is None:
        raise RuntimeError(f"only {done} of {count} jobs completed")
    return enqueue_rate, count / (last - first)


def main() -> None:
    import hashlib

    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        stores = [("sqlite", f"sqlite:///{base / 'state.db'}")]
        if args.postgres:
            stores.append(("postgresql", args.postgres))
        print("| store | worker processes | enqueue jobs/s | completed jobs/s |\n|---|---|---|---|")
        for name, url in stores:
            config = base / f"{name}.yaml"
            digest = hashlib.sha256(b"bench").hexdigest()
            config.write_text(CONFIG.format(state=url, digest=digest))
            for workers in args.workers:
                enqueue_rate, rate = measure(url, base, config, args.jobs, workers)
                print(f"| {name} | {workers} | {enqueue_rate:.0f} | {rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
