"""Tasks and progress over `pasarela stdio`: its process runs the jobs itself."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import REPO
from tests.helpers.gateway import ENV, write_config
from tests.helpers.mcp_tasks import TasksClient
from tests.helpers.processes import child_env
from tests.jobs.tasks_gateway import BACKENDS, EXTRA

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def stdio(config: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "pasarela", "stdio", "-c", str(config), "--as", "reader"],
        env=child_env(ENV),
        cwd=REPO,
    )


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_async_tool_runs_as_a_job_over_stdio(tmp_path: Path, mode: str) -> None:
    config = write_config(
        tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=EXTRA.format(state=tmp_path / "state.db")
    )
    extension = TasksClient()
    heard: list[float] = []

    async def record(progress: float, total: float | None, message: str | None) -> None:
        heard.append(progress)

    async with Client(stdio(config), mode=mode, extensions=[extension]) as client:
        report = await client.call_tool("slow_report", {"steps": 3, "pause": 0.05})
        counted = await client.call_tool("count_up", {"steps": 2}, progress_callback=record)
        version = client.protocol_version
    assert report.structured_content == {"sections": 3}
    assert report.meta is not None and report.meta["pasarela"]["job"], "run by this process's workers"
    assert version == ("2026-07-28" if mode == "auto" else "2025-11-25")
    assert len(extension.created) == (1 if mode == "auto" else 0), "a task where the client takes one"
    assert counted.structured_content == {"counted": 2} and heard == [0.5, 1.0]
