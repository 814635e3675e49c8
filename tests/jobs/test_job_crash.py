"""A job survives the death of the process running it: kill -9, then it runs again and completes,
and the backend — which honours Idempotency-Key — applies its effect once."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.helpers.gateway import ENV, WRITER_KEY, bearer, write_config
from tests.helpers.processes import child_env, pasarela_command, served
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream, Reply, Seen

pytestmark = pytest.mark.e2e


class KeyedBackend:
    """Creates an item once per Idempotency-Key (the first time slowly, so a gateway can die
    while it waits); a repeated key gets the first answer back."""

    def __init__(self) -> None:
        self.applied: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.upstream = RecordingUpstream(self.answer)

    def answer(self, seen: Seen) -> Reply:
        key = seen.headers.get("idempotency-key", "")
        with self.lock:
            if key in self.applied:
                return Reply(201, self.applied[key])
            self.applied[key] = {"id": f"item-{len(self.applied) + 1}", "name": seen.json()["name"]}
            return Reply(201, self.applied[key], delay=2.5)

    def keys(self) -> list[str]:
        return [s.headers.get("idempotency-key", "") for s in self.upstream.seen if s.method == "POST"]


EXTRA = """state: sqlite:///{state}
tools:
  createItem: {{job: {{attempts: 3}}}}
jobs:
  workers: "${{env:JOB_WORKERS:-2}}"
  lease: 2s
  poll_interval: 100ms
"""


@contextmanager
def worker_process(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            pasarela_command("worker", "-c", str(config)),
            env=child_env(ENV),
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def start_job(url: str) -> str:
    answer = httpx.post(
        f"{url}/v1/tools/createItem:start", json={"arguments": {"name": "ledger"}}, headers=bearer(WRITER_KEY)
    )
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["job"]["id"]
    return job_id


def finished(url: str, job_id: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{url}/v1/jobs/{job_id}/result", params={"wait": "30s"}, headers=bearer(WRITER_KEY), timeout=40
    )
    assert answer.status_code == 200, answer.text
    job = httpx.get(f"{url}/v1/jobs/{job_id}", headers=bearer(WRITER_KEY)).json()["job"]
    return {"result": answer.json()["result"], "job": job}


def test_a_gateway_killed_mid_job_runs_it_again_and_the_effect_happens_once(tmp_path: Path) -> None:
    backend = KeyedBackend()
    with ThreadedServer(backend.upstream) as upstream:
        port = free_port()
        config = write_config(
            tmp_path, upstream.url, port=port, extra=EXTRA.format(state=tmp_path / "state.db")
        )
        with served(config, port, ENV) as first:
            job_id = start_job(first.url)
            wait_for(lambda: len(backend.keys()) == 1)  # the backend is applying it now
            os.kill(first.process.pid, signal.SIGKILL)
            first.process.wait()
        with served(config, port, ENV) as second:
            done = finished(second.url, job_id)
    keys = backend.keys()
    assert len(keys) == 2 and keys[0] == keys[1] == f"job-{job_id}", keys
    assert len(backend.applied) == 1, "applied once"
    assert done["result"]["id"] == "item-1"
    assert (done["job"]["status"], done["job"]["attempts"]) == ("completed", 2)


def test_a_worker_killed_mid_job_leaves_it_to_another(tmp_path: Path) -> None:
    backend = KeyedBackend()
    with ThreadedServer(backend.upstream) as upstream:
        port = free_port()
        config = write_config(
            tmp_path, upstream.url, port=port, extra=EXTRA.format(state=tmp_path / "state.db")
        )
        gateway_env = {**ENV, "JOB_WORKERS": "0"}  # the gateway takes jobs; only workers run them
        with served(config, port, gateway_env) as gateway:
            with worker_process(config, tmp_path / "worker-1.log") as doomed:
                job_id = start_job(gateway.url)
                wait_for(lambda: len(backend.keys()) == 1)
                doomed.send_signal(signal.SIGKILL)
                doomed.wait()
            with worker_process(config, tmp_path / "worker-2.log"):
                done = finished(gateway.url, job_id)
    assert backend.keys() == [f"job-{job_id}"] * 2
    assert len(backend.applied) == 1
    assert (done["job"]["status"], done["job"]["attempts"]) == ("completed", 2)


def test_two_workers_on_postgresql_run_a_thousand_jobs_each_once(tmp_path: Path) -> None:
    import anyio

    from tests.conftest import POSTGRES_URL, _reset_postgres, need_service

    need_service(anyio.run(_reset_postgres, POSTGRES_URL))
    runs: dict[str, int] = {}
    lock = threading.Lock()

    def count(seen: Seen) -> Reply:
        key = seen.headers.get("idempotency-key", "")
        with lock:
            runs[key] = runs.get(key, 0) + 1
        return Reply(201, {"id": key, "name": "n"})

    upstream_app = RecordingUpstream(count)
    with ThreadedServer(upstream_app) as upstream:
        port = free_port()
        extra = f"""state: {POSTGRES_URL}
audit: {{enabled: false}}
jobs:
  workers: "${{env:JOB_WORKERS:-16}}"
  max_active_per_principal: 2000
  poll_interval: 200ms
"""
        config = write_config(tmp_path, upstream.url, port=port, extra=extra)
        with (
            served(config, port, {**ENV, "JOB_WORKERS": "0"}) as gateway,
            httpx.Client(base_url=gateway.url, headers=bearer(WRITER_KEY), timeout=30) as http,
        ):
            ids = []
            for n in range(1000):
                answer = http.post("/v1/tools/createItem:start", json={"arguments": {"name": f"n{n}"}})
                assert answer.status_code == 202, answer.text
                ids.append(answer.json()["job"]["id"])
            with worker_process(config, tmp_path / "w1.log"), worker_process(config, tmp_path / "w2.log"):
                wait_for(lambda: sum(runs.values()) >= 1000, timeout=120)
                for job_id in ids[-20:]:  # the last ones too have finished, and completed
                    assert http.get(f"/v1/jobs/{job_id}/result", params={"wait": "30s"}).status_code == 200
    assert len(runs) == 1000 and set(runs.values()) == {1}, "each job executed exactly once"
    shares = [(tmp_path / log).read_text().count('"job_finished"') for log in ("w1.log", "w2.log")]
    assert all(share > 0 for share in shares) and sum(shares) == 1000, shares
