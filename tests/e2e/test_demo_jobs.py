"""The demo bank's statement report: a job over REST, followed through the reports system's 202."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from tests.e2e.test_demo import running_demo
from tests.jobs.test_mcp_tasks import tasks_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_the_compliance_bot_runs_a_statement_report_as_a_job(tmp_path: Path) -> None:
    with running_demo(tmp_path, env={"PASARELA_DEMO_REPORT_SECONDS": "3"}) as demo:
        assert "reports" in demo.systems
        compliance, support = demo.keys["compliance-bot"], demo.keys["support-bot"]
        arguments = {"arguments": {"customer_id": "12345", "period": "2026-10"}}
        async with httpx.AsyncClient(base_url=demo.rest_url, timeout=30) as http:
            started = await http.post(
                "/tools/generate_statement_report:call",
                json=arguments,
                headers={"Authorization": f"Bearer {compliance}"},
            )
            assert started.status_code == 202, "an async tool answers with its job, even to :call"
            job_url = started.headers["Location"].removeprefix("/v1")
            messages = set()
            with anyio.fail_after(20):
                while (
                    job := (
                        await http.get(job_url, headers={"Authorization": f"Bearer {compliance}"})
                    ).json()["job"]
                )["status"] != "completed":
                    if "progress" in job:
                        messages.add(job["progress"]["message"])
                    await anyio.sleep(0.2)
            assert any(m.startswith("adding ") for m in messages), messages
            report = job["result"]
            assert (report["customer_id"], report["period"], report["currency"]) == (
                "12345",
                "2026-10",
                "EUR",
            )
            # Someone else's job does not exist for the support bot; nor may it start one.
            assert (
                await http.get(job_url, headers={"Authorization": f"Bearer {support}"})
            ).status_code == 404
            denied = await http.post(
                "/tools/generate_statement_report:start",
                json=arguments,
                headers={"Authorization": f"Bearer {support}"},
            )
            assert denied.status_code in (403, 404)
        # Its end reached the demo's webhook receiver, which verified the signature.
        log = tmp_path / "webhooks.log"
        with anyio.fail_after(10):
            while not log.exists() or "job.completed" not in log.read_text():  # noqa: ASYNC110 - another process
                await anyio.sleep(0.1)
        assert f"job={started.json()['job']['id']}" in log.read_text() and "verified=yes" in log.read_text()

        # The same report as an MCP task (protocol 2026-07-28, the tasks extension).
        async with tasks_client(demo.mcp_url.removesuffix("/mcp"), compliance) as (client, extension):
            result = await client.call_tool(
                "generate_statement_report", {"customer_id": "23456", "period": "2026-05"}
            )
        assert not result.is_error and result.structured_content is not None
        assert result.structured_content["customer_id"] == "23456"
        assert len(extension.created) == 1, "answered with a task, followed to its end"
        statuses = [task.status_message or "" for task in extension.seen]
        assert any("adding " in status for status in statuses), statuses
