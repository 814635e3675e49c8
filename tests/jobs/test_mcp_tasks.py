"""MCP tasks of protocol 2026-07-28 (the tasks extension) driven by the official client, and what
clients that do not do tasks get: against a running `pasarela serve`."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.helpers.gateway import READER_KEY, WRITER_KEY, bearer
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.mcp_tasks import CreateTaskResult, TasksClient, cancel_task, get_task, poll
from tests.jobs.tasks_gateway import tasks_gateway

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

Progress = list[tuple[float, float | None, str | None]]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with tasks_gateway(tmp_path_factory.mktemp("tasks")) as base:
        yield base


@asynccontextmanager
async def tasks_client(url: str, key: str = READER_KEY) -> AsyncIterator[tuple[Client, TasksClient]]:
    """The official client, declaring the tasks extension on every request."""
    extension = TasksClient()
    http = create_mcp_http_client(headers=bearer(key))
    async with (
        http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), extensions=[extension]) as client,
    ):
        assert client.protocol_version == "2026-07-28"
        yield client, extension


async def start_task(client: Client, tool: str, arguments: dict[str, Any]) -> CreateTaskResult:
    created = await client.session.call_tool(tool, arguments, allow_claimed=True)
    assert isinstance(created, CreateTaskResult), created
    return created


def recorder(into: Progress) -> Any:
    async def record(progress: float, total: float | None, message: str | None) -> None:
        into.append((progress, total, message))

    return record


async def until_reporting(client: Client, task_id: str) -> None:
    """Until the task's tool has said how far it is (it is running, past its start)."""
    with anyio.fail_after(10):
        while (await get_task(client.session, task_id)).status_message in ("queued", "running"):  # noqa: ASYNC110 - polling the API
            await anyio.sleep(0.05)


async def rest_job(url: str, job_id: str, key: str = READER_KEY) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as http:
        return await http.get(f"/v1/jobs/{job_id}", headers=bearer(key))


async def test_an_async_tool_answers_with_a_task_the_client_follows_to_its_result(url: str) -> None:
    async with tasks_client(url) as (client, extension):
        assert client.server_capabilities.extensions == {"io.modelcontextprotocol/tasks": {}}
        result = await client.call_tool("slow_report", {"steps": 6, "pause": 0.1})
    assert not result.is_error and result.structured_content == {"sections": 6}
    [created] = extension.created
    assert (created.status, created.ttl_ms, created.poll_interval_ms) == ("working", None, 1000)
    messages = [task.status_message for task in extension.seen]
    assert any(re.fullmatch(r"\d+%: section \d of 6", m or "") for m in messages), messages
    last = extension.seen[-1]
    assert last.status == "completed" and last.result is not None and last.poll_interval_ms is None
    assert last.ttl_ms is not None and last.ttl_ms >= 86_400_000, "kept a day after it ended (job.retention)"
    assert last.result["_meta"]["pasarela"]["job"] == created.task_id


async def test_other_tools_answer_directly_even_to_a_tasks_client(url: str) -> None:
    async with tasks_client(url) as (client, extension):
        greeting = await client.call_tool("greet", {"name": "Ana"})
        applied = await client.call_tool("apply_once", {"amount": 2})
    assert greeting.structured_content == {"text": "Hello, Ana!", "shout": False}
    assert applied.structured_content is not None and applied.structured_content["applied"] == 2
    assert extension.created == [], "execution: sync and optional tools answer the call itself"


async def test_a_task_is_a_job_over_rest_and_a_rest_job_is_a_task(url: str) -> None:
    async with tasks_client(url) as (client, _):
        created = await start_task(client, "slow_report", {"steps": 2, "pause": 0.05})
        over_rest = await rest_job(url, created.task_id)
        assert over_rest.status_code == 200, over_rest.text
        assert over_rest.json()["job"]["tool"] == "slow_report"
        async with httpx.AsyncClient(base_url=url) as http:
            started = await http.post(
                "/v1/tools/apply_once:start", json={"arguments": {"amount": 7}}, headers=bearer(READER_KEY)
            )
        assert started.status_code == 202, started.text
        task = await poll(client.session, started.json()["job"]["id"])
        await poll(client.session, created.task_id)
    assert task.status == "completed" and task.result is not None
    assert task.result["structuredContent"]["applied"] == 7
    done = (await rest_job(url, created.task_id)).json()["job"]
    assert done["status"] == "completed" and done["result"] == {"sections": 2}


async def test_a_task_belongs_to_its_owner(url: str) -> None:
    async with tasks_client(url) as (client, _):
        created = await start_task(client, "slow_report", {"steps": 1, "pause": 0.01})
    async with tasks_client(url, WRITER_KEY) as (other, _):
        for method in (get_task, cancel_task):
            with pytest.raises(MCPError) as caught:
                await method(other.session, created.task_id)
            assert caught.value.code == -32602, "another principal's task does not exist for it"
            assert "Failed to retrieve task" in caught.value.error.message
    assert (await rest_job(url, created.task_id, WRITER_KEY)).status_code == 404


async def test_cancel_a_running_task(url: str) -> None:
    async with tasks_client(url) as (client, _):
        created = await start_task(client, "slow_report", {"steps": 400, "pause": 0.05})
        await until_reporting(client, created.task_id)
        acknowledged = await cancel_task(client.session, created.task_id)
        assert acknowledged.model_dump(exclude_none=True, exclude={"meta"}) == {"result_type": "complete"}
        ended = await poll(client.session, created.task_id)
    assert ended.status == "cancelled" and ended.result is None
    assert (await rest_job(url, created.task_id)).json()["job"]["status"] == "cancelled"


async def test_a_tool_error_is_a_completed_task_whose_result_is_the_error(url: str) -> None:
    async with tasks_client(url) as (client, _):
        created = await start_task(client, "refuse", {"reason": "closed"})
        ended = await poll(client.session, created.task_id)
    assert ended.status == "completed", "failed is for JSON-RPC errors; a tool error is a result"
    assert ended.result is not None and ended.result["isError"] is True
    problem = json.loads(ended.result["content"][0]["text"])
    assert (problem["code"], problem["job"]) == ("upstream_error", created.task_id)
    assert ended.status_message is not None and "refused: closed" in ended.status_message


async def test_what_the_call_would_refuse_is_refused_before_any_task_exists(url: str) -> None:
    async with tasks_client(url) as (client, extension):
        invalid = await client.call_tool("slow_report", {"steps": "many"})
        with pytest.raises(MCPError) as unknown:
            await client.session.call_tool("no_such_tool", {}, allow_claimed=True)
    assert invalid.is_error and json.loads(invalid.content[0].text)["code"] == "invalid_arguments"  # type: ignore[union-attr]
    assert unknown.value.code == -32602
    assert extension.created == []


async def test_tasks_methods_need_the_extension_and_a_known_task(url: str) -> None:
    async with mcp_http_client(f"{url}/mcp", READER_KEY) as plain:
        with pytest.raises(MCPError) as undeclared:
            await get_task(plain.session, "0" * 32)
    assert undeclared.value.code == -32021
    assert undeclared.value.error.data == {
        "requiredCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}
    }
    async with tasks_client(url) as (client, _):
        with pytest.raises(MCPError) as unknown:
            await get_task(client.session, "0" * 32)
        with pytest.raises(MCPError) as legacy_only:
            await client.session.send_request(
                types.ListTasksRequest(params=types.PaginatedRequestParams()), types.ListTasksResult
            )
    assert unknown.value.code == -32602
    assert legacy_only.value.code == -32601, "tasks/list is 2025-11-25's; the 2026 extension has none"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_client_without_tasks_waits_for_an_async_tool_and_hears_its_progress(
    url: str, mode: str
) -> None:
    heard: Progress = []
    async with mcp_http_client(f"{url}/mcp", READER_KEY, mode=mode) as client:
        result = await client.call_tool(
            "slow_report", {"steps": 5, "pause": 0.3}, progress_callback=recorder(heard)
        )
    assert not result.is_error and result.structured_content == {"sections": 5}
    assert result.meta is not None
    job = result.meta["pasarela"]["job"]
    assert (await rest_job(url, job)).json()["job"]["status"] == "completed", "it ran as a job"
    assert heard, "the job's progress reached the client"
    values = [progress for progress, _, _ in heard]
    assert values == sorted(values) and len(set(values)) == len(values), "progress only increases"
    assert all(total == 1.0 for _, total, _ in heard)
    assert any(message and message.startswith("section ") for _, _, message in heard)


async def test_a_retry_with_the_same_idempotency_key_finds_the_same_job(url: str) -> None:
    meta: Any = {"idempotency_key": "report-2026-11"}
    async with mcp_http_client(f"{url}/mcp", READER_KEY) as client:
        first = await client.call_tool("slow_report", {"steps": 1, "pause": 0.01}, meta=meta)
        again = await client.call_tool("slow_report", {"steps": 1, "pause": 0.01}, meta=meta)
    assert first.meta is not None and again.meta is not None
    assert first.meta["pasarela"]["job"] == again.meta["pasarela"]["job"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_plain_call_with_a_progress_token_hears_its_tool(url: str, mode: str) -> None:
    heard: Progress = []
    async with mcp_http_client(f"{url}/mcp", READER_KEY, mode=mode) as client:
        result = await client.call_tool("count_up", {"steps": 4}, progress_callback=recorder(heard))
        silent = await client.call_tool("count_up", {"steps": 2})
    assert result.structured_content == {"counted": 4} and silent.structured_content == {"counted": 2}
    assert heard == [(n / 4, 1.0, f"step {n} of 4") for n in range(1, 5)]
