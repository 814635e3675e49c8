"""MCP tasks from the client side: the official client's extension mechanism (SEP-2133) with the
2026-07-28 tasks extension, which the SDK does not ship, and raw JSON-RPC for 2025-11-25 (the SDK
validates a 2025-11-25 tools/call answer as a CallToolResult, so its client cannot take a task)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import anyio
import httpx
import mcp_types as types
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession

from tests.helpers.raw_mcp import message_of

TASKS = "io.modelcontextprotocol/tasks"
TERMINAL = ("completed", "failed", "cancelled")


class CreateTaskResult(types.Result):
    """`resultType: "task"`: a tools/call answered with a task (2026-07-28)."""

    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class GetTaskResult(types.Result):
    task_id: str
    status: str
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class TaskIdParams(types.RequestParams):
    task_id: str


class GetTask(types.Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskIdParams
    name_param = "taskId"  # the spec's Mcp-Name header for tasks/*


class CancelTask(types.Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskIdParams
    name_param = "taskId"


class TasksClient(ClientExtension):
    """Takes a task answer to tools/call and polls `tasks/get` until it ends (what a client of the
    extension does); keeps every answer it saw for the test to look at."""

    identifier = TASKS

    def __init__(self) -> None:
        self.created: list[CreateTaskResult] = []
        self.seen: list[GetTaskResult] = []

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreateTaskResult, resolve=self.resolve)]

    async def resolve(self, created: CreateTaskResult, ctx: ClaimContext) -> types.CallToolResult:
        self.created.append(created)
        task = await poll(ctx.session, created.task_id, self.seen)
        if task.status != "completed" or task.result is None:
            raise RuntimeError(f"task {task.task_id} ended {task.status}: {task.status_message}")
        return types.CallToolResult.model_validate(task.result, by_name=False)


async def get_task(session: ClientSession, task_id: str) -> GetTaskResult:
    return await session.send_request(GetTask(params=TaskIdParams(task_id=task_id)), GetTaskResult)


async def cancel_task(session: ClientSession, task_id: str) -> types.EmptyResult:
    return await session.send_request(CancelTask(params=TaskIdParams(task_id=task_id)), types.EmptyResult)


async def poll(
    session: ClientSession, task_id: str, seen: list[GetTaskResult] | None = None
) -> GetTaskResult:
    """`tasks/get` until the task ends (faster than its pollIntervalMs: tests are impatient)."""
    with anyio.fail_after(20):
        while True:
            task = await get_task(session, task_id)
            if seen is not None:
                seen.append(task)
            if task.status in TERMINAL:
                return task
            await anyio.sleep(0.05)


LEGACY = "2025-11-25"


class LegacyMcp:
    """A 2025-11-25 session by hand (initialize, then JSON-RPC requests over POST)."""

    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self.http = http
        self.headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        self.initialized: dict[str, Any] = {}
        self._ids = 0

    async def open(self) -> LegacyMcp:
        hello = {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "raw-2025-11-25", "version": "1"},
        }
        answer = await self.http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello},
            headers=self.headers,
        )
        answer.raise_for_status()
        self.initialized = message_of(answer)["result"]
        self.headers["Mcp-Session-Id"] = answer.headers["mcp-session-id"]
        self.headers["Mcp-Protocol-Version"] = LEGACY
        await self.http.post(
            "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=self.headers
        )
        return self

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON-RPC response: `{"result": ...}` or `{"error": ...}`."""
        self._ids += 1
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": self._ids, "method": method}
        if params is not None:
            body["params"] = params
        answer = await self.http.post("/mcp", json=body, headers=self.headers, timeout=30)
        message: dict[str, Any] = message_of(answer)
        return message

    async def result(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message = await self.request(method, params)
        assert "result" in message, message
        found: dict[str, Any] = message["result"]
        return found
