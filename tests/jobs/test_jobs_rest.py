"""Jobs over REST, in-process with the worker running in the app's lifespan."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from pasarela.assembly import Runtime
from pasarela.audit import search
from pasarela.jobs import JobStore
from tests.helpers.gateway import ENV, NOBODY_KEY, READER_KEY, WRITER_KEY, bearer, gateway_for
from tests.helpers.processes import run_pasarela
from tests.jobs import job_tools

pytestmark = pytest.mark.anyio

BACKENDS = "  jobs:\n    python: tests.jobs.job_tools\n"
EXTRA = """tools:
  slow_report: {execution: async, job: {timeout: 20s, attempts: 2, retention: 1h}}
  apply_once: {execution: optional}
  refuse: {execution: optional, job: {retention: 300ms}}
  greet: {execution: sync}
jobs: {workers: 1, lease: 2s, poll_interval: 50ms}
policies: |
  @id("writers-read-jobs") permit(principal in Role::"writer", action == Action::"read_job", resource);
access:
  reader: [slow_report, apply_once, refuse, refuse_and_keep, greet]
  writer: ["*"]
"""


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=EXTRA) as pair:
        yield pair


async def start(
    client: httpx.AsyncClient, tool: str, arguments: dict[str, Any], key: str = READER_KEY, **headers: str
) -> httpx.Response:
    return await client.post(
        f"/v1/tools/{tool}:start", json={"arguments": arguments}, headers={**bearer(key), **headers}
    )


async def job_now(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await client.get(f"/v1/jobs/{job_id}", headers=bearer(READER_KEY))).json()[
        "job"
    ]
    return answer


async def until(client: httpx.AsyncClient, job_id: str, holds: Any) -> dict[str, Any]:
    """The job once `holds(job)` is true (polled: the worker runs beside the test)."""
    with anyio.fail_after(10):
        while not holds(job := await job_now(client, job_id)):  # noqa: ASYNC110 - polling the API
            await anyio.sleep(0.05)
    return job


async def result(
    client: httpx.AsyncClient, job_id: str, key: str = READER_KEY, wait: str = "15s"
) -> httpx.Response:
    return await client.get(
        f"/v1/jobs/{job_id}/result", params={"wait": wait}, headers=bearer(key), timeout=30
    )


async def test_a_job_runs_as_its_owner_reports_progress_and_keeps_its_result(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = gateway
    started = await start(client, "slow_report", {"steps": 8, "pause": 0.1})
    assert started.status_code == 202, started.text
    job = started.json()["job"]
    assert started.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running") and job["tool"] == "slow_report"
    seen = await until(client, job["id"], lambda job: "progress" in job)
    assert seen["status"] == "running" and seen["progress"]["message"].startswith("section ")
    done = await result(client, job["id"])
    assert done.status_code == 200, done.text
    assert done.json()["result"] == {"sections": 8}
    assert done.json()["meta"]["job"] == job["id"]
    shown = (await client.get(f"/v1/jobs/{job['id']}", headers=bearer(READER_KEY))).json()["job"]
    assert shown["status"] == "completed" and shown["progress"]["fraction"] == 1.0
    assert shown["result"] == {"sections": 8} and shown["attempts"] == 1
    assert "arguments" not in shown, "a job's view never repeats its arguments"


async def test_an_async_tool_called_the_ordinary_way_answers_with_its_job(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = gateway
    called = await client.post(
        "/v1/tools/slow_report:call", json={"arguments": {"steps": 1}}, headers=bearer(READER_KEY)
    )
    assert called.status_code == 202, called.text
    assert (await result(client, called.json()["job"]["id"])).json()["result"] == {"sections": 1}
    refused = await start(client, "greet", {"name": "Ana"})
    assert (refused.status_code, refused.json()["code"]) == (409, "job_conflict"), "execution: sync"


async def test_what_the_call_itself_would_refuse_is_refused_before_any_job_exists(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = gateway
    denied = await start(client, "slow_report", {"steps": 1}, key=NOBODY_KEY)
    assert (denied.status_code, denied.json()["code"]) == (403, "denied")
    invalid = await start(client, "slow_report", {"steps": "many"})
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_arguments")
    unknown = await start(client, "no_such_tool", {})
    assert unknown.status_code == 404
    listed = (await client.get("/v1/jobs", headers=bearer(READER_KEY))).json()
    assert listed["jobs"] == [], "nothing was queued"


async def test_cancel_a_running_job_and_a_queued_one(gateway: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _ = gateway
    running = (await start(client, "slow_report", {"steps": 400, "pause": 0.05})).json()["job"]
    queued = (await start(client, "slow_report", {"steps": 1})).json()["job"]  # one worker: it waits
    await until(client, running["id"], lambda job: job["status"] == "running")
    first = await client.post(f"/v1/jobs/{queued['id']}:cancel", headers=bearer(READER_KEY))
    assert (first.status_code, first.json()["job"]["status"]) == (200, "cancelled"), first.text
    second = await client.post(f"/v1/jobs/{running['id']}:cancel", headers=bearer(READER_KEY))
    assert second.status_code in (200, 202)
    ended = await result(client, running["id"])
    assert (ended.status_code, ended.json()["code"]) == (409, "cancelled")
    assert (await result(client, queued["id"])).json()["code"] == "cancelled"
    again = await client.post(f"/v1/jobs/{queued['id']}:cancel", headers=bearer(READER_KEY))
    assert again.status_code == 200, "cancelling a finished job changes nothing"


async def test_a_job_belongs_to_its_owner_unless_policy_says_otherwise(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = gateway
    job = (await start(client, "slow_report", {"steps": 1})).json()["job"]
    await result(client, job["id"])
    nobody = await client.get(f"/v1/jobs/{job['id']}", headers=bearer(NOBODY_KEY))
    assert (nobody.status_code, nobody.json()["code"]) == (404, "unknown_job")
    assert (await result(client, job["id"], key=NOBODY_KEY)).status_code == 404
    writer = await client.get(f"/v1/jobs/{job['id']}", headers=bearer(WRITER_KEY))
    assert writer.status_code == 200, "writers may read jobs (read_job), by policy"
    cancel = await client.post(f"/v1/jobs/{job['id']}:cancel", headers=bearer(WRITER_KEY))
    assert cancel.status_code == 404, "but not cancel them (no cancel_job)"
    assert (await client.get("/v1/jobs", headers=bearer(NOBODY_KEY))).json()["jobs"] == []


async def test_a_failed_job_keeps_its_problem_and_expires_after_its_retention(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = gateway
    job = (await start(client, "refuse", {"reason": "no"})).json()["job"]
    failed = await result(client, job["id"])
    assert (failed.status_code, failed.json()["code"]) == (502, "upstream_error")
    assert failed.json()["job"] == job["id"]
    await anyio.sleep(0.4)  # its retention is 300 ms
    assert await JobStore(runtime.state, max_active=1).expire() >= 1
    gone = await client.get(f"/v1/jobs/{job['id']}", headers=bearer(READER_KEY))
    assert gone.status_code == 404


async def test_an_idempotency_key_starts_one_job(gateway: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _ = gateway
    first = await start(client, "apply_once", {"amount": 5}, **{"Idempotency-Key": "pay-1"})
    second = await start(client, "apply_once", {"amount": 5}, **{"Idempotency-Key": "pay-1"})
    assert first.json()["job"]["id"] == second.json()["job"]["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    other = await start(client, "apply_once", {"amount": 6}, **{"Idempotency-Key": "pay-1"})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    done = (await result(client, first.json()["job"]["id"])).json()
    key = done["result"]["key"]
    assert key == f"job-{first.json()['job']['id']}", "the backend sees the job's own key"
    assert job_tools.EFFECTS[key] == 1


async def test_listing_pages_through_the_callers_jobs(gateway: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _ = gateway
    ids = [(await start(client, "apply_once", {"amount": n})).json()["job"]["id"] for n in range(5)]
    for job_id in ids:
        await result(client, job_id)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/jobs", params=params, headers=bearer(READER_KEY))).json()
        seen += [job["id"] for job in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids)), "newest first, each once"
    only = (
        await client.get(
            "/v1/jobs", params={"status": "completed", "tool": "apply_once"}, headers=bearer(READER_KEY)
        )
    ).json()
    assert len(only["jobs"]) == 5
    for bad in ({"status": "done"}, {"limit": "0"}, {"limit": "x"}, {"cursor": "nonsense"}):
        answer = await client.get("/v1/jobs", params=bad, headers=bearer(READER_KEY))
        assert (answer.status_code, answer.json()["code"]) == (400, "invalid_request"), bad
    assert (await client.get("/v1/jobs/" + "x" * 500, headers=bearer(READER_KEY))).status_code == 404
    bad_wait = await client.get(
        f"/v1/jobs/{ids[0]}/result", params={"wait": "soon"}, headers=bearer(READER_KEY)
    )
    assert bad_wait.status_code == 400


async def test_operators_list_show_retry_and_cancel_from_the_command_line(
    gateway: tuple[httpx.AsyncClient, Runtime], tmp_path: Path
) -> None:
    client, _ = gateway
    config = str(tmp_path / "pasarela.yaml")
    job = (await start(client, "refuse_and_keep", {"reason": "no"})).json()["job"]
    await result(client, job["id"])
    listed = await anyio.to_thread.run_sync(
        lambda: run_pasarela("jobs", "list", "--status", "failed", "--json", "-c", config, env=ENV)
    )
    assert listed.returncode == 0, listed.stderr
    [shown] = json.loads(listed.stdout)
    assert (shown["id"], shown["owner"], shown["problem"]["code"]) == (job["id"], "reader", "upstream_error")
    retried = await anyio.to_thread.run_sync(
        lambda: run_pasarela("jobs", "retry", job["id"], "-c", config, env=ENV)
    )
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["status"] == "queued"
    again = await result(client, job["id"])  # the worker runs it again; it fails again
    assert again.json()["code"] == "upstream_error"
    unknown = await anyio.to_thread.run_sync(
        lambda: run_pasarela("jobs", "cancel", "nope", "-c", config, env=ENV)
    )
    assert unknown.returncode == 3 and "no job 'nope'" in unknown.stderr
    bad = await anyio.to_thread.run_sync(
        lambda: run_pasarela("jobs", "list", "--status", "done", "-c", config, env=ENV)
    )
    assert bad.returncode == 2


async def test_the_trail_holds_the_start_each_run_and_who_cancelled(tmp_path: Path) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=EXTRA, audit=True) as (
        client,
        runtime,
    ):
        started = await start(
            client, "slow_report", {"steps": 400, "pause": 0.05}, **{"X-Request-Id": "start-1"}
        )
        job = started.json()["job"]
        await until(client, job["id"], lambda now: now["status"] == "running")
        await client.post(f"/v1/jobs/{job['id']}:cancel", headers=bearer(READER_KEY))
        await result(client, job["id"])
        assert runtime.audit is not None
        await runtime.audit.flush()
        records = [r for r in await search(runtime.state) if r["tool"] == "slow_report"]
    by_outcome = {r["outcome"]: r for r in records}
    assert by_outcome["ok"]["request_id"] == "start-1", "the start, admitted"
    run = by_outcome["cancelled"]
    assert (run["parent_id"], run["via"], run["principal"]) == ("start-1", "job", "reader")
    cancelled = by_outcome["job_cancelled"]
    assert (cancelled["parent_id"], cancelled["principal"]) == ("start-1", "reader")
