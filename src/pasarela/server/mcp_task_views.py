"""A job as an MCP task, in the shape of each protocol revision.

2026-07-28 (the tasks extension) spells `ttlMs`/`pollIntervalMs` and carries a finished task's
result in `tasks/get`; a tool call that ended in a tool error is `completed` with an `isError`
result (`failed` is kept for JSON-RPC errors, which a started job never ends in).
2025-11-25 spells `ttl`/`pollInterval`, reports a tool error as `failed`, and hands the result
out through `tasks/result`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import mcp_types as types

from pasarela.jobs import Job, JobStatus
from pasarela.secrets import Redactor
from pasarela.server.mcp_calls import problem_result, success_result

RELATED_TASK = "io.modelcontextprotocol/related-task"
POLL_INTERVAL_MS = 1000  # what tasks suggest between two looks (the REST door's Retry-After: 1)


def task_status(job: Job, *, modern: bool) -> str:
    if not job.status.finished:
        return "working"
    if job.status is JobStatus.FAILED and modern:
        return "completed"  # its result is the tool error (isError), as the call would have answered
    return str(job.status)


def status_message(job: Job) -> str | None:
    """What a person (or model) watching the task reads: where it is, or why it ended."""
    if job.cancel_requested and not job.status.finished:
        return "cancelling"
    if job.status is JobStatus.QUEUED:
        if job.attempts and job.problem:  # a transient failure: it runs again later
            return f"waiting to run again (attempt {job.attempts} of {job.max_attempts}): {job.problem.get('detail')}"
        return "queued"
    if job.status is JobStatus.RUNNING:
        return progress_text(job.progress, job.message) or "running"
    if job.status is JobStatus.COMPLETED:
        return None
    return str((job.problem or {}).get("detail") or job.status)


def progress_text(fraction: float | None, message: str | None) -> str | None:
    """`"40%: section 3 of 8"`, `"40%"`, `"section 3 of 8"` or None."""
    parts = [f"{fraction:.0%}"] if fraction is not None else []
    if message:
        parts.append(message)
    return ": ".join(parts) or None


def task_view(job: Job, *, modern: bool, redactor: Redactor) -> dict[str, Any]:
    """The `Task` object (taskId, status, statusMessage, createdAt, lastUpdatedAt, ttl, poll)."""
    view: dict[str, Any] = {
        "taskId": job.id,
        "status": task_status(job, modern=modern),
        "createdAt": _iso(job.created_at),
        "lastUpdatedAt": _iso(max(t for t in (job.created_at, job.started_at, job.finished_at) if t)),
        ("ttlMs" if modern else "ttl"): _ttl_ms(job),
    }
    message = status_message(job)
    if message is not None:
        view["statusMessage"] = redactor.redact(message)
    if not job.status.finished:
        view["pollIntervalMs" if modern else "pollInterval"] = POLL_INTERVAL_MS
    return view


def pasarela_meta(job: Job) -> dict[str, Any]:
    """What MCP's Task has no field for: the tool, the job's own status, its progress."""
    meta: dict[str, Any] = {"job": job.id, "tool": job.tool, "status": str(job.status)}
    if job.progress is not None or job.message is not None:
        meta["progress"] = {"fraction": job.progress, "message": job.message}
    return meta


def call_result(job: Job, redactor: Redactor) -> types.CallToolResult:
    """What the tools/call would have answered, from a finished job (isError for a problem)."""
    if job.status is JobStatus.COMPLETED and job.outcome is not None:
        meta = {**job.outcome.get("meta", {}), "job": job.id, "tool": job.tool}
        return success_result(job.outcome.get("result"), meta)
    return problem_result({**(job.problem or {}), "job": job.id}, redactor)


def dump(result: types.Result) -> dict[str, Any]:
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def _ttl_ms(job: Job) -> int | None:
    """From creation until the job may be deleted: known once it has finished (its retention
    counts from then); until then nothing deletes it (null: unlimited, for now)."""
    if job.expires_at is None:
        return None
    return round((job.expires_at - job.created_at) * 1000)


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
