"""MCP tasks of protocol 2025-11-25 (task-augmented tools/call, tasks/get, tasks/result, tasks/list,
tasks/cancel) by raw JSON-RPC over HTTP against a running `pasarela serve`: the official client
validates a 2025-11-25 tools/call answer as a CallToolResult, so it cannot take a task."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from tests.helpers.gateway import NOBODY_KEY, READER_KEY, WRITER_KEY, bearer
from tests.helpers.mcp_tasks import LegacyMcp
from tests.jobs.tasks_gateway import tasks_gateway

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

RELATED = "io.modelcontextprotocol/related-task"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with tasks_gateway(tmp_path_factory.mktemp("legacy-tasks")) as base:
        yield base


@asynccontextmanager
async def session(url: str, key: str = READER_KEY) -> AsyncIterator[LegacyMcp]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield await LegacyMcp(http, key).open()


async def create(mcp: LegacyMcp, tool: str, arguments: dict[str, Any], **params: Any) -> dict[str, Any]:
    answer = await mcp.result(
        "tools/call", {"name": tool, "arguments": arguments, "task": {"ttl": 60_000}, **params}
    )
    task: dict[str, Any] = answer["task"]
    return task


async def until(mcp: LegacyMcp, task_id: str, *statuses: str) -> dict[str, Any]:
    with anyio.fail_after(20):
        while (task := await mcp.result("tasks/get", {"taskId": task_id}))["status"] not in statuses:  # noqa: ASYNC110 - polling the API
            await anyio.sleep(0.05)
    return task


async def test_the_server_says_it_does_tasks_and_which_tools_may_run_as_one(url: str) -> None:
    async with session(url) as mcp:
        assert mcp.initialized["capabilities"]["tasks"] == {
            "list": {},
            "cancel": {},
            "requests": {"tools": {"call": {}}},
        }
        listed = await mcp.result("tools/list")
    support = {tool["name"]: tool["execution"]["taskSupport"] for tool in listed["tools"]}
    assert support["greet"] == "forbidden", "execution: sync"
    assert support["apply_once"] == support["count_up"] == "optional"
    assert support["slow_report"] == "optional", "async tools still answer clients that do not do tasks"


async def test_a_task_runs_to_its_result(url: str) -> None:
    async with session(url) as mcp:
        answer = await mcp.result(
            "tools/call", {"name": "slow_report", "arguments": {"steps": 4, "pause": 0.1}, "task": {}}
        )
        task = answer["task"]
        assert task["status"] == "working" and task["pollInterval"] == 1000 and task["ttl"] is None
        assert (
            "slow_report is running as task"
            in answer["_meta"]["io.modelcontextprotocol/model-immediate-response"]
        )
        seen = await mcp.result("tasks/get", {"taskId": task["taskId"]})
        assert seen["taskId"] == task["taskId"], "durably created before it was returned"
        result = await mcp.result("tasks/result", {"taskId": task["taskId"]})  # blocks until it ends
        done = await mcp.result("tasks/get", {"taskId": task["taskId"]})
        listed = await mcp.result("tasks/list")
    assert result["structuredContent"] == {"sections": 4} and result["isError"] is False
    assert result["_meta"][RELATED] == {"taskId": task["taskId"]}
    assert done["status"] == "completed" and done["ttl"] >= 86_400_000 and "pollInterval" not in done
    assert done["_meta"]["pasarela"]["progress"]["fraction"] == 1.0
    assert task["taskId"] in [t["taskId"] for t in listed["tasks"]]
    async with httpx.AsyncClient(base_url=url) as http:
        job = (await http.get(f"/v1/jobs/{task['taskId']}", headers=bearer(READER_KEY))).json()["job"]
    assert job["status"] == "completed" and job["result"] == {"sections": 4}


async def test_a_rest_job_is_a_task(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        started = await http.post(
            "/v1/tools/apply_once:start", json={"arguments": {"amount": 3}}, headers=bearer(READER_KEY)
        )
    job = started.json()["job"]["id"]
    async with session(url) as mcp:
        result = await mcp.result("tasks/result", {"taskId": job})
        listed = await mcp.result("tasks/list")
    assert result["structuredContent"]["applied"] == 3
    assert job in [t["taskId"] for t in listed["tasks"]]


async def test_cancel_a_running_task_then_not_again(url: str) -> None:
    async with session(url) as mcp:
        task = await create(mcp, "slow_report", {"steps": 400, "pause": 0.05})
        with anyio.fail_after(10):
            while (await mcp.result("tasks/get", {"taskId": task["taskId"]})).get("statusMessage") in (  # noqa: ASYNC110 - polling the API
                "queued",
                "running",
            ):
                await anyio.sleep(0.05)
        cancelled = await mcp.result("tasks/cancel", {"taskId": task["taskId"]})
        again = await mcp.request("tasks/cancel", {"taskId": task["taskId"]})
        result = await mcp.result("tasks/result", {"taskId": task["taskId"]})
    assert cancelled["status"] == "cancelled", "its worker stopped it before the answer"
    assert again["error"]["code"] == -32602, "a task that has ended cannot be cancelled"
    assert result["isError"] is True and json.loads(result["content"][0]["text"])["code"] == "cancelled"


async def test_a_tool_error_is_a_failed_task(url: str) -> None:
    async with session(url) as mcp:
        task = await create(mcp, "refuse", {"reason": "closed"})
        ended = await until(mcp, task["taskId"], "completed", "failed", "cancelled")
        result = await mcp.result("tasks/result", {"taskId": task["taskId"]})
    assert ended["status"] == "failed" and "refused: closed" in ended["statusMessage"]
    assert result["isError"] is True and json.loads(result["content"][0]["text"])["code"] == "upstream_error"


async def test_what_cannot_become_a_task_is_refused_with_a_protocol_error(url: str) -> None:
    async with session(url) as mcp:
        sync = await mcp.request("tools/call", {"name": "greet", "arguments": {"name": "Ana"}, "task": {}})
        unknown = await mcp.request("tools/call", {"name": "no_such_tool", "arguments": {}, "task": {}})
        invalid = await mcp.request(
            "tools/call", {"name": "slow_report", "arguments": {"steps": "x"}, "task": {}}
        )
        listed = await mcp.result("tasks/list")
    assert sync["error"]["code"] == -32601, "taskSupport forbidden"
    assert unknown["error"]["code"] == -32602
    assert invalid["error"]["code"] == -32602 and invalid["error"]["data"]["code"] == "invalid_arguments"
    assert all(t["taskId"] for t in listed["tasks"])
    async with session(url, NOBODY_KEY) as nobody:
        denied = await nobody.request(
            "tools/call", {"name": "slow_report", "arguments": {"steps": 1}, "task": {}}
        )
        assert (await nobody.result("tasks/list"))["tasks"] == [], "nothing was started"
    assert denied["error"]["data"]["code"] == "denied"


async def test_a_task_belongs_to_its_owner(url: str) -> None:
    async with session(url) as mcp:
        task = await create(mcp, "slow_report", {"steps": 1, "pause": 0.01})
    async with session(url, WRITER_KEY) as other:
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            refused = await other.request(method, {"taskId": task["taskId"]})
            assert refused["error"]["code"] == -32602, method
        assert task["taskId"] not in [t["taskId"] for t in (await other.result("tasks/list"))["tasks"]]


async def test_methods_of_the_other_revision_are_not_served(url: str) -> None:
    async with session(url) as mcp:
        update = await mcp.request("tasks/update", {"taskId": "x", "inputResponses": {}})
        bad_cursor = await mcp.request("tasks/list", {"cursor": "not-a-cursor"})
    assert update["error"]["code"] == -32601, "tasks/update is the 2026 extension's"
    assert bad_cursor["error"]["code"] == -32602


async def test_the_progress_token_of_the_call_reports_the_task_and_its_end(url: str) -> None:
    heard: list[dict[str, Any]] = []
    ready, ended = anyio.Event(), anyio.Event()
    async with session(url) as mcp, anyio.create_task_group() as group:

        async def listen() -> None:
            headers = {**mcp.headers, "Accept": "text/event-stream"}
            async with mcp.http.stream("GET", "/mcp", headers=headers, timeout=30) as stream:
                ready.set()
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        heard.append(json.loads(line[5:]))
                        if heard[-1].get("method") == "notifications/tasks/status":
                            ended.set()
                            return

        group.start_soon(listen)
        await ready.wait()
        task = await create(
            mcp, "slow_report", {"steps": 6, "pause": 0.4}, _meta={"progressToken": "report-1"}
        )
        with anyio.fail_after(20):
            await ended.wait()
    progress = [m["params"] for m in heard if m.get("method") == "notifications/progress"]
    assert progress, "progress reached the client after the task was created"
    assert all(p["progressToken"] == "report-1" and p["total"] == 1.0 for p in progress)
    assert all(p["_meta"][RELATED] == {"taskId": task["taskId"]} for p in progress)
    values = [p["progress"] for p in progress]
    assert values == sorted(values)
    status = heard[-1]["params"]
    assert (status["taskId"], status["status"]) == (task["taskId"], "completed")
