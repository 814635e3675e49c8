"""MCP Tasks on durable jobs: a task IS a job — same store, same owner, same policies
(`Action::"read_job"`, `Action::"cancel_job"`), so a job started over REST is a task over MCP and
a task is a job over REST.

- **2026-07-28, the tasks extension** (`io.modelcontextprotocol/tasks`): when the request declares
  the extension, an `execution: async` tool answers `tools/call` with a task (`resultType: "task"`),
  stored as a job before the answer leaves; `tasks/get` (with the result once finished),
  `tasks/update`, `tasks/cancel`. Built as an SDK `Extension`, installed on the low-level server.
- **2025-11-25, tasks in the core protocol**: a `tools/call` with `params.task` starts any tool
  that is not `execution: sync` as a task; `tasks/get`, `tasks/result`, `tasks/list`,
  `tasks/cancel`; `tools/list` says each tool's `execution.taskSupport`; the progress token of the
  call keeps reporting the task's progress. The SDK validates a 2025-11-25 `tools/call` answer as
  a CallToolResult, so these task answers come from a server middleware (`LegacyTaskCalls`).
- **Any client that does not ask for a task**, calling an `execution: async` tool: the job is
  started and waited for (at most the tool's job timeout), then answered like a plain call, its
  progress relayed as `notifications/progress`. A client that gives up early leaves the job
  running: its result stays with the job (REST, tasks), and the same `_meta.idempotency_key`
  finds it again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
import anyio.abc
import mcp_types as types
import structlog
from mcp.server import Server
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import RequestHandler
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from pasarela.errors import PROBLEM_TYPE_PREFIX, PasarelaError
from pasarela.identity import Principal
from pasarela.jobs import Job, Jobs
from pasarela.jobs.worker import STORE_ERRORS
from pasarela.pipeline import Door
from pasarela.secrets import Redactor
from pasarela.server.arguments import check_arguments
from pasarela.server.mcp_calls import (
    PrincipalResolver,
    error_result,
    mcp_request_id,
    meta_idempotency_key,
    problem_result,
    protocol_error,
)
from pasarela.server.mcp_progress import UNDELIVERABLE, ProgressNotifier, progress_of, progress_token
from pasarela.server.mcp_task_methods import TaskMethods
from pasarela.server.mcp_task_protocol import (
    MODERN,
    LegacyTaskCalls,
    TasksExtension,
    declares_tasks,
    install_extension,
)
from pasarela.server.mcp_task_views import RELATED_TASK, call_result, task_view

log = structlog.get_logger("pasarela.mcp.tasks")

IMMEDIATE_RESPONSE = "io.modelcontextprotocol/model-immediate-response"
WAIT_STEP = 0.5  # seconds between looks at a job a plain call waits for (progress relayed then)
WATCH_EVERY = 1.0  # seconds between looks at a 2025-11-25 task whose client wants its progress
MAX_WATCHED = 256  # tasks watched at once for their progress tokens (more: no notifications)


class McpTasks:
    def __init__(
        self,
        jobs: Jobs,
        redactor: Redactor,
        resolve_principal: PrincipalResolver,
        *,
        door: Door = Door.MCP,
        max_depth: int,
    ) -> None:
        self.jobs = jobs
        self.redactor = redactor
        self.resolve_principal = resolve_principal
        self.door = door
        self.max_depth = max_depth
        self.methods = TaskMethods(jobs, redactor, resolve_principal)
        self._watchers: anyio.abc.TaskGroup | None = None
        self._watched = 0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While entered (the app's lifespan), 2025-11-25 tasks report progress to their clients."""
        async with anyio.create_task_group() as group:
            self._watchers = group
            try:
                yield
            finally:
                self._watchers = None
                group.cancel_scope.cancel()

    def install(self, server: Server[Any], call_tool: RequestHandler) -> None:
        """Serve tasks on `server`, whose `tools/call` handler is `call_tool`."""
        install_extension(server, TasksExtension(self), call_tool)
        server.middleware.append(LegacyTaskCalls(self))

    def execution(self, tool: str) -> str:
        return self.jobs.gateway().plan_of(tool).execution

    # -- tools/call ---------------------------------------------------------------------------

    async def intercept(
        self, params: types.CallToolRequestParams, ctx: ServerRequestContext[Any], call_next: CallNext
    ) -> HandlerResult:
        if self.execution(params.name) != "async":
            return await call_next(ctx)
        if ctx.protocol_version in MODERN and declares_tasks(ctx):
            request_id = mcp_request_id(ctx)
            try:
                job = await self._start(ctx, params, request_id)
            except PasarelaError as exc:
                return error_result(exc, self.redactor, request_id)
            return {"resultType": "task", **task_view(job, modern=True, redactor=self.redactor)}
        return await self._run_and_wait(ctx, params)

    async def start_legacy(self, ctx: ServerRequestContext[Any]) -> HandlerResult:
        """A 2025-11-25 task-augmented tools/call: the job, as a CreateTaskResult."""
        try:
            params = types.CallToolRequestParams.model_validate(ctx.params or {}, by_name=False)
        except ValidationError:
            raise MCPError(types.INVALID_PARAMS, "Invalid request parameters") from None
        if self.execution(params.name) == "sync":
            raise MCPError(
                types.METHOD_NOT_FOUND,
                f"tool {params.name!r} does not run as a task (execution: sync): call it without `task`",
            )
        request_id = mcp_request_id(ctx)
        try:
            job = await self._start(ctx, params, request_id)
        except PasarelaError as exc:
            raise protocol_error(exc, self.redactor, request_id) from None
        token = progress_token(ctx)
        if token is not None:
            self._watch(ctx.session, token, self.resolve_principal(ctx), job)
        started = f"{job.tool} is running as task {job.id}; its result will be ready later."
        return {
            "task": task_view(job, modern=False, redactor=self.redactor),
            "_meta": {IMMEDIATE_RESPONSE: started},
        }

    async def _start(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams, request_id: str | None
    ) -> Job:
        check_arguments(params.arguments, tool=params.name, max_depth=self.max_depth)
        started = await self.jobs.start(
            self.resolve_principal(ctx),
            params.name,
            params.arguments,
            door=self.door,
            request_id=request_id or uuid.uuid4().hex,
            client_key=meta_idempotency_key(params),
        )
        return started.job

    async def _run_and_wait(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        """The job, waited for and answered as a plain call (a client that does not do tasks)."""
        request_id = mcp_request_id(ctx)
        principal = self.resolve_principal(ctx)
        notify = progress_of(ctx)
        try:
            job = await self._start(ctx, params, request_id)
            deadline = anyio.current_time() + job.timeout
            while not job.status.finished and (left := deadline - anyio.current_time()) > 0:
                job = await self.jobs.wait(principal, job.id, min(WAIT_STEP, left))
                if notify is not None and (job.progress is not None or job.message is not None):
                    await notify(job.progress, job.message)
        except PasarelaError as exc:
            return error_result(exc, self.redactor, request_id)
        if not job.status.finished:
            return problem_result(_unfinished(job), self.redactor)
        return call_result(job, self.redactor)

    # -- progress of 2025-11-25 tasks ---------------------------------------------------------

    def _watch(
        self, session: ServerSession, token: types.ProgressToken, principal: Principal, job: Job
    ) -> None:
        if self._watchers is None or self._watched >= MAX_WATCHED:
            return
        self._watched += 1
        self._watchers.start_soon(self._report, session, token, principal, job)

    async def _report(
        self, session: ServerSession, token: types.ProgressToken, principal: Principal, job: Job
    ) -> None:
        """Progress and the final status of one task, on the session's own stream."""
        related = {RELATED_TASK: {"taskId": job.id}}
        notify = ProgressNotifier(session, token, request_id=None, meta=related)
        try:
            while not job.status.finished:
                await anyio.sleep(WATCH_EVERY)
                with anyio.CancelScope(shield=True):  # a query cut short would hang the loop's end
                    job = await self.jobs.get(principal, job.id)
                if job.progress is not None or job.message is not None:
                    await notify(job.progress, job.message)
            status = types.TaskStatusNotificationParams.model_validate(
                task_view(job, modern=False, redactor=self.redactor), by_name=False
            )
            notification = cast(types.ServerNotification, types.TaskStatusNotification(params=status))
            await session.send_notification(notification)
        except (PasarelaError, *STORE_ERRORS) as exc:
            log.info("mcp_task_watch_ended", task=job.id, error=f"{type(exc).__name__}: {exc}")
        except UNDELIVERABLE:
            pass  # the session has ended: nobody to tell
        finally:
            self._watched -= 1


def _unfinished(job: Job) -> dict[str, Any]:
    return {
        "type": f"{PROBLEM_TYPE_PREFIX}job_unfinished",
        "title": "Job unfinished",
        "status": 504,
        "code": "job_unfinished",
        "detail": (
            f"{job.tool} has not finished after {job.timeout:g}s and goes on as job {job.id}: follow it "
            f"as an MCP task, or at GET /v1/jobs/{job.id}; calling again with the same "
            "_meta.idempotency_key finds it"
        ),
        "job": job.id,
    }
