"""Server-streaming methods: messages collected up to `max_messages`, the answer says whether
more were left; a stream that breaks is an error; the tool's timeout bounds the stream."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.connectors.grpc.helpers import ACCESS, NOWHERE, backend, call
from tests.connectors.grpc.lab_server import LabServer
from tests.helpers.gateway import READER_KEY, bearer, gateway_for

pytestmark = pytest.mark.anyio


async def test_a_stream_is_collected_up_to_the_cap(tmp_path: Path, lab: LabServer) -> None:
    extra = "    max_messages: 3\n    retry: {attempts: 1}\n"
    tools = ACCESS + "tools:\n  Count: {timeout: 500ms}\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, extra), extra=tools) as (client, _):
        whole = await call(client, "Count", {"up_to": 3})
        assert whole.json()["result"] == {
            "messages": [{"n": 1}, {"n": 2}, {"n": 3}],
            "count": 3,
            "truncated": False,
        }
        cut = await call(client, "Count", {"up_to": 1000})
        assert cut.json()["result"] == {
            "messages": [{"n": 1}, {"n": 2}, {"n": 3}],
            "count": 3,
            "truncated": True,
        }
        empty = await call(client, "Count", {"up_to": 0})
        assert empty.json()["result"] == {"messages": [], "count": 0, "truncated": False}
        broken = await call(client, "Count", {"up_to": 2, "then_fail": "DATA_LOSS"})
        assert broken.status_code == 502, broken.text
        assert broken.json()["grpc_status"] == "DATA_LOSS"
        # A stream slower than the tool's timeout is cut by it.
        slow = await call(client, "Count", {"up_to": 3, "delay": 0.4})
        assert slow.status_code == 504, slow.text


async def test_a_stream_run_as_a_job_reports_its_messages_as_progress(tmp_path: Path, lab: LabServer) -> None:
    extra = "    max_messages: 10\n"
    tools = (
        ACCESS.replace("access:", "jobs: {workers: 1, poll_interval: 50ms}\naccess:")
        + "tools:\n  Count: {execution: async, job: {timeout: 20s}}\n"
    )
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, extra), extra=tools) as (client, _):
        started = await call(client, "Count", {"up_to": 8, "delay": 0.15})
        assert started.status_code == 202, "an async tool answers with its job"
        job_id = started.json()["job"]["id"]
        seen: list[str] = []
        with anyio.fail_after(15):
            while (job := (await client.get(f"/v1/jobs/{job_id}", headers=bearer(READER_KEY))).json()["job"])[
                "status"
            ] != "completed":
                if "progress" in job:
                    seen.append(job["progress"]["message"])
                await anyio.sleep(0.05)
    assert any(message.endswith("message(s) received") for message in seen), seen
    assert job["result"]["count"] == 8 and job["progress"]["fraction"] == 1.0
