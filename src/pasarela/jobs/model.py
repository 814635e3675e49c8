"""A job as stored, and the view of it an agent gets."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from pasarela.identity.principal import Principal


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    owner: str
    principal: Principal
    tool: str
    arguments: dict[str, Any]
    door: str
    request_id: str
    status: JobStatus
    attempts: int
    max_attempts: int
    timeout: float
    retention: float
    progress: float | None
    message: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    cancel_requested: bool
    outcome: dict[str, Any] | None  # {result, meta} once completed
    problem: dict[str, Any] | None  # the problem document once failed or cancelled
    expires_at: float | None
    traceparent: str | None = None  # the start's trace context: each run's span links to it

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(
            id=row.id,
            owner=row.owner,
            principal=Principal.from_json(orjson.loads(row.principal)),
            tool=row.tool,
            arguments=orjson.loads(row.arguments),
            door=row.door,
            request_id=row.request_id,
            status=JobStatus(row.status),
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            timeout=row.timeout,
            retention=row.retention,
            progress=row.progress,
            message=row.message,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            cancel_requested=bool(row.cancel_requested),
            outcome=orjson.loads(row.outcome) if row.outcome else None,
            problem=orjson.loads(row.problem) if row.problem else None,
            expires_at=row.expires_at,
            traceparent=row.traceparent,
        )

    @property
    def effect_key(self) -> str:
        """What the backend sees as `Idempotency-Key` on every attempt of this job."""
        return f"job-{self.id}"

    def public(self) -> dict[str, Any]:
        """The job as its owner sees it (`GET /v1/jobs/{id}`): no arguments, no internals."""
        shown: dict[str, Any] = {
            "id": self.id,
            "tool": self.tool,
            "status": str(self.status),
            "attempts": self.attempts,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "expires_at": _iso(self.expires_at),
        }
        if self.progress is not None or self.message is not None:
            shown["progress"] = {"fraction": self.progress, "message": self.message}
        if self.cancel_requested and not self.status.finished:
            shown["cancel_requested"] = True
        if self.status is JobStatus.COMPLETED and self.outcome is not None:
            shown["result"] = self.outcome.get("result")
            shown["meta"] = self.outcome.get("meta", {})
        if self.problem is not None:
            shown["problem"] = self.problem
        return shown


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
