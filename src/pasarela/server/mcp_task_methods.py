"""The tasks/* methods, on jobs: `tasks/get` and `tasks/cancel` at both revisions,
`tasks/update` at 2026-07-28, `tasks/result` and `tasks/list` at 2025-11-25.

A task is found as its job is (`Jobs.get`): its owner's, or another's where a policy permits
`read_job` (looking) or `cancel_job` (cancelling); to anyone else it does not exist (-32602).
"""

from __future__ import annotations

import contextlib
from typing import Any

import mcp_types as types
from mcp.server.context import HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError

from pasarela.errors import JobNotFound
from pasarela.jobs import Job, Jobs, JobStatus
from pasarela.jobs.store import page_cursor, parse_cursor
from pasarela.secrets import Redactor
from pasarela.server.mcp_calls import PrincipalResolver
from pasarela.server.mcp_task_protocol import (
    MODERN,
    UpdateTaskRequestParams,
    declares_tasks,
    missing_extension,
)
from pasarela.server.mcp_task_views import RELATED_TASK, call_result, dump, pasarela_meta, task_view

LIST_PAGE = 50
CANCEL_WAIT = 5.0  # seconds a 2025-11-25 tasks/cancel waits for a running job to stop


class TaskMethods:
    def __init__(self, jobs: Jobs, redactor: Redactor, resolve_principal: PrincipalResolver) -> None:
        self.jobs = jobs
        self.redactor = redactor
        self.resolve_principal = resolve_principal

    async def get(self, ctx: ServerRequestContext[Any], params: types.GetTaskRequestParams) -> HandlerResult:
        modern = self._era(ctx)
        job = await self._job(ctx, params.task_id)
        view = task_view(job, modern=modern, redactor=self.redactor)
        if modern and job.status.finished and job.status is not JobStatus.CANCELLED:
            view["result"] = dump(call_result(job, self.redactor))
        view["_meta"] = {"pasarela": pasarela_meta(job)}
        return view

    async def update(self, ctx: ServerRequestContext[Any], params: UpdateTaskRequestParams) -> HandlerResult:
        self._era(ctx)
        await self._job(ctx, params.task_id)
        # No job asks its client for input, so no key is ever outstanding: responses are ignored.
        return {}

    async def cancel(
        self, ctx: ServerRequestContext[Any], params: types.CancelTaskRequestParams
    ) -> HandlerResult:
        modern = self._era(ctx)
        principal = self.resolve_principal(ctx)
        try:
            job = await self.jobs.get(principal, params.task_id, action="cancel_job")
            if job.status.finished and not modern:
                raise MCPError(types.INVALID_PARAMS, f"task {job.id} has already ended ({job.status})")
            job = await self.jobs.cancel(principal, job.id)
            if modern:
                return {}  # acknowledged; the task shows `cancelled` once its worker has stopped
            if not job.status.finished:  # 2025-11-25 answers with the task as cancelled: wait a little
                with contextlib.suppress(JobNotFound):  # one who may cancel but not read gets it as it was
                    job = await self.jobs.wait(principal, job.id, CANCEL_WAIT)
        except JobNotFound as exc:
            raise _unknown(exc) from None
        return task_view(job, modern=False, redactor=self.redactor)

    async def result(
        self, ctx: ServerRequestContext[Any], params: types.GetTaskPayloadRequestParams
    ) -> HandlerResult:
        principal = self.resolve_principal(ctx)
        job = await self._job(ctx, params.task_id)
        try:
            while not job.status.finished:  # tasks/result waits for the end
                job = await self.jobs.wait(principal, job.id, self.jobs.settings.max_wait)
        except JobNotFound as exc:  # expired while waited for
            raise _unknown(exc) from None
        answer = dump(call_result(job, self.redactor))
        answer["_meta"] = {**answer.get("_meta", {}), RELATED_TASK: {"taskId": job.id}}
        return answer

    async def list_tasks(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams
    ) -> HandlerResult:
        try:
            before = parse_cursor(params.cursor) if params.cursor else None
        except ValueError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        principal = self.resolve_principal(ctx)
        found = await self.jobs.page(principal, status=None, tool=None, limit=LIST_PAGE + 1, before=before)
        shown = found[:LIST_PAGE]
        answer: dict[str, Any] = {
            "tasks": [task_view(j, modern=False, redactor=self.redactor) for j in shown]
        }
        if len(found) > LIST_PAGE:
            answer["nextCursor"] = page_cursor(shown[-1])
        return answer

    def _era(self, ctx: ServerRequestContext[Any]) -> bool:
        """True on the 2026-07-28 wire, where the request must declare the extension (-32021)."""
        if ctx.protocol_version not in MODERN:
            return False
        if not declares_tasks(ctx):
            raise missing_extension()
        return True

    async def _job(self, ctx: ServerRequestContext[Any], task_id: str) -> Job:
        try:
            return await self.jobs.get(self.resolve_principal(ctx), task_id)
        except JobNotFound as exc:
            raise _unknown(exc) from None


def _unknown(exc: JobNotFound) -> MCPError:
    return MCPError(types.INVALID_PARAMS, f"Failed to retrieve task: {exc.detail}")
