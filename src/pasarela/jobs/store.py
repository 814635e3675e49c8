"""Jobs in the durable state store: created, claimed by workers under a lease, finished, expired.

Workers claim due jobs with one UPDATE … RETURNING over a sub-select; on PostgreSQL the
sub-select takes `FOR UPDATE SKIP LOCKED`, so workers in several processes never claim the same
job and never wait for each other (as River, Oban and procrastinate do). On SQLite the store's
BEGIN IMMEDIATE serializes writers. A running job carries a lease its worker renews; a job whose
lease ran out (its worker died) is due again — at least once, never lost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import and_, delete, func, or_, select, text, update

from pasarela import jsonsafe
from pasarela.errors import PROBLEM_TYPE_PREFIX, IdempotencyConflict, RateLimited
from pasarela.identity.principal import Principal
from pasarela.jobs.model import Job, JobStatus
from pasarela.state import StateStore
from pasarela.state.tables import jobs

NOTIFY_CHANNEL = "pasarela_jobs"  # PostgreSQL: workers LISTEN here for new work
MESSAGE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class NewJob:
    principal: Principal
    tool: str
    arguments: dict[str, Any]
    door: str
    request_id: str
    client_key: str | None
    max_attempts: int
    timeout: float
    retention: float
    traceparent: str | None = None  # where the start stood in its trace


class JobStore:
    def __init__(self, state: StateStore, *, max_active: int) -> None:
        self.state = state
        self.max_active = max_active

    @property
    def shared(self) -> bool:
        """Whether other processes may run these jobs (PostgreSQL) or only this one (SQLite)."""
        return self.state.dialect == "postgresql"

    async def create(self, new: NewJob) -> tuple[Job, bool]:
        """Store a queued job; `(job, True)`. With a client key already used by this principal:
        that job, `(job, False)` — or a conflict if the key was used for another call."""
        owner = new.principal.id
        now = time.time()
        row = {
            "id": uuid.uuid4().hex,
            "owner": owner,
            "principal": orjson.dumps(new.principal.to_json()).decode(),
            "tool": new.tool,
            "arguments": jsonsafe.dumps(new.arguments).decode(),
            "door": new.door,
            "request_id": new.request_id,
            "client_key": new.client_key,
            "status": str(JobStatus.QUEUED),
            "attempts": 0,
            "max_attempts": new.max_attempts,
            "timeout": new.timeout,
            "retention": new.retention,
            "created_at": now,
            "run_after": now,
            "cancel_requested": 0,
            "traceparent": new.traceparent,
        }
        async with self.state.engine.begin() as db:
            if new.client_key is not None:
                found = (
                    await db.execute(
                        select(jobs).where(jobs.c.owner == owner, jobs.c.client_key == new.client_key)
                    )
                ).first()
                if found is not None:
                    earlier = Job.from_row(found)
                    if (earlier.tool, earlier.arguments) != (new.tool, new.arguments):
                        raise IdempotencyConflict(
                            f"idempotency key {new.client_key!r} already started job {earlier.id} "
                            f"({earlier.tool}) with other arguments; use a new key for another job"
                        )
                    return earlier, False
            active = (
                await db.execute(
                    select(func.count())
                    .select_from(jobs)
                    .where(jobs.c.owner == owner, jobs.c.status.in_(["queued", "running"]))
                )
            ).scalar_one()
            if active >= self.max_active:
                raise RateLimited(
                    f"principal {owner!r} already has {active} jobs queued or running "
                    f"(at most {self.max_active}); wait for some to finish",
                    retry_after=5.0,
                    limit="jobs.max_active_per_principal",
                )
            await db.execute(jobs.insert().values(**row))
            if self.shared:
                await db.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        stored = SimpleNamespace(**{column.name: row.get(column.name) for column in jobs.columns})
        return Job.from_row(stored), True

    async def get(self, job_id: str) -> Job | None:
        async with self.state.engine.connect() as db:
            found = (await db.execute(select(jobs).where(jobs.c.id == job_id))).first()
        return Job.from_row(found) if found is not None else None

    async def page(
        self,
        *,
        owner: str | None,
        status: str | None = None,
        tool: str | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[Job]:
        """Newest first; `before` (created_at, id) continues a page."""
        query = select(jobs)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        if status is not None:
            query = query.where(jobs.c.status == status)
        if tool is not None:
            query = query.where(jobs.c.tool == tool)
        if before is not None:
            at, job_id = before
            query = query.where(
                or_(jobs.c.created_at < at, and_(jobs.c.created_at == at, jobs.c.id < job_id))
            )
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        async with self.state.engine.connect() as db:
            return [Job.from_row(row) for row in (await db.execute(query)).all()]

    async def claim(self, worker: str, count: int, lease: float) -> list[Job]:
        """Up to `count` due jobs — queued and not held back, or running with an expired lease —
        now running under `worker`'s lease."""
        now = time.time()
        due = or_(
            and_(jobs.c.status == "queued", jobs.c.run_after <= now),
            and_(jobs.c.status == "running", jobs.c.lease_until < now),
        )
        # Two statements in one transaction: the ids, locked (PostgreSQL skips rows other workers
        # hold), then the claim. One UPDATE over an IN (… LIMIT … SKIP LOCKED) sub-select is not
        # safe: PostgreSQL may run the sub-select more than once and claim more than asked.
        async with self.state.engine.begin() as db:
            ids = list((await db.execute(self._fair(due, now, count))).scalars())
            if not ids:
                return []
            claim = (
                update(jobs)
                .where(jobs.c.id.in_(ids), due)
                .values(
                    status="running",
                    lease_owner=worker,
                    lease_until=now + lease,
                    attempts=jobs.c.attempts + 1,
                    started_at=func.coalesce(jobs.c.started_at, now),
                )
                .returning(*jobs.c)
            )
            rows = (await db.execute(claim)).all()
        return [Job.from_row(row) for row in rows]

    def _fair(self, due: Any, now: float, count: int) -> Any:
        """The ids to claim, taking turns between principals: each principal's due jobs are
        numbered from its number of jobs running now, so one agent's flood of jobs waits its
        turn behind another's single job instead of starving it (oldest first within a turn)."""
        running = (
            select(jobs.c.owner, func.count().label("running"))
            .where(jobs.c.status == "running", jobs.c.lease_until >= now)
            .group_by(jobs.c.owner)
            .subquery()
        )
        turn = func.row_number().over(
            partition_by=jobs.c.owner, order_by=(jobs.c.run_after, jobs.c.id)
        ) + func.coalesce(running.c.running, 0)
        ranked = (
            select(jobs.c.id, jobs.c.run_after, turn.label("turn"))
            .select_from(jobs.outerjoin(running, running.c.owner == jobs.c.owner))
            .where(due)
            .subquery()
        )
        # A few more candidates than wanted: on PostgreSQL other workers may hold some of them.
        shortlist = (
            select(ranked.c.id, ranked.c.turn, ranked.c.run_after)
            .order_by(ranked.c.turn, ranked.c.run_after)
            .limit(count * 4 if self.shared else count)
            .subquery()
        )
        chosen = (
            select(jobs.c.id)
            .join(shortlist, shortlist.c.id == jobs.c.id)
            # Again here, at the level that locks: PostgreSQL re-checks it on a row another worker
            # claimed and committed meanwhile, so that row is passed over, not claimed twice.
            .where(due)
            .order_by(shortlist.c.turn, shortlist.c.run_after)
            .limit(count)
        )
        if self.shared:
            chosen = chosen.with_for_update(skip_locked=True, of=jobs)
        return chosen

    async def renew(self, worker: str, lease: float) -> set[str]:
        """Extend the lease of every job `worker` runs; the ids of those asked to stop."""
        statement = (
            update(jobs)
            .where(jobs.c.lease_owner == worker, jobs.c.status == "running")
            .values(lease_until=time.time() + lease)
            .returning(jobs.c.id, jobs.c.cancel_requested)
        )
        async with self.state.engine.begin() as db:
            rows = (await db.execute(statement)).all()
        return {row.id for row in rows if row.cancel_requested}

    async def report(self, job_id: str, worker: str, fraction: float | None, message: str | None) -> None:
        values: dict[str, Any] = {}
        if fraction is not None:
            values["progress"] = min(1.0, max(0.0, fraction))
        if message is not None:
            values["message"] = message[:MESSAGE_LIMIT]
        if values:
            async with self.state.engine.begin() as db:
                await db.execute(update(jobs).where(self._held(job_id, worker)).values(**values))

    async def finish(
        self,
        job: Job,
        worker: str,
        status: JobStatus,
        *,
        outcome: dict[str, Any] | None = None,
        problem: dict[str, Any] | None = None,
    ) -> Job | None:
        """Record how a run ended: the job as ended; None if it is no longer this worker's (its
        lease ran out and another worker took it over: that run's ending counts)."""
        now = time.time()
        values: dict[str, Any] = {
            "status": str(status),
            "finished_at": now,
            "expires_at": now + job.retention,
            "lease_owner": None,
            "lease_until": None,
            "outcome": jsonsafe.dumps(outcome).decode() if outcome is not None else None,
            "problem": jsonsafe.dumps(problem).decode() if problem is not None else None,
        }
        if status is JobStatus.COMPLETED:
            values["progress"] = 1.0
        statement = update(jobs).where(self._held(job.id, worker)).values(**values).returning(*jobs.c)
        async with self.state.engine.begin() as db:
            ended = (await db.execute(statement)).first()
        return Job.from_row(ended) if ended is not None else None

    async def again_later(
        self, job: Job, worker: str, delay: float, problem: dict[str, Any], *, give_back: bool = False
    ) -> bool:
        """A run failed in a way worth retrying: queue the job again after `delay` seconds.
        `give_back`: the run was interrupted by its worker stopping, so it is not counted."""
        values: dict[str, Any] = {
            "status": "queued",
            "run_after": time.time() + delay,
            "lease_owner": None,
            "lease_until": None,
            "problem": jsonsafe.dumps(problem).decode(),
        }
        if give_back:
            values["attempts"] = jobs.c.attempts - 1

        async with self.state.engine.begin() as db:
            done = await db.execute(update(jobs).where(self._held(job.id, worker)).values(**values))
            if give_back and self.shared:
                await db.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        return bool(done.rowcount)

    async def cancel(self, job_id: str) -> Job | None:
        """A queued job is cancelled at once; a running one is asked to stop (its worker sees
        it at its next renewal, and records the end)."""
        now = time.time()
        problem = jsonsafe.dumps(CANCELLED).decode()
        async with self.state.engine.begin() as db:
            await db.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == "queued")
                .values(
                    status="cancelled",
                    finished_at=now,
                    expires_at=now + jobs.c.retention,
                    problem=problem,
                    cancel_requested=1,
                )
            )
            await db.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.status == "running").values(cancel_requested=1)
            )
        return await self.get(job_id)

    async def retry(self, job_id: str) -> Job | None:
        """A failed or cancelled job queued again, its attempts counted afresh (an operator's
        call); None if there is no such job, the job as it is if it cannot be retried."""
        statement = (
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status.in_(["failed", "cancelled"]))
            .values(
                status="queued",
                attempts=0,
                run_after=time.time(),
                cancel_requested=0,
                finished_at=None,
                expires_at=None,
                outcome=None,
                problem=None,
                progress=None,
                message=None,
            )
            .returning(*jobs.c)
        )
        async with self.state.engine.begin() as db:
            queued = (await db.execute(statement)).first()
            if queued is not None and self.shared:
                await db.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        # As queued, not as a worker may already have it a moment later.
        return Job.from_row(queued) if queued is not None else await self.get(job_id)

    async def expire(self) -> int:
        """Delete finished jobs past their retention (their arguments and results go with them)."""
        async with self.state.engine.begin() as db:
            gone = await db.execute(delete(jobs).where(jobs.c.expires_at < time.time()))
        return int(gone.rowcount or 0)

    async def depth(self) -> tuple[int, float | None]:
        """Jobs queued and due, and the age in seconds of the oldest of them."""
        now = time.time()
        query = select(func.count(), func.min(jobs.c.created_at)).where(
            jobs.c.status == "queued", jobs.c.run_after <= now
        )
        async with self.state.engine.connect() as db:
            count, oldest = (await db.execute(query)).one()
        return int(count), (now - oldest if oldest is not None else None)

    @staticmethod
    def _held(job_id: str, worker: str) -> Any:
        return and_(jobs.c.id == job_id, jobs.c.lease_owner == worker, jobs.c.status == "running")


CANCELLED: dict[str, Any] = {
    "type": PROBLEM_TYPE_PREFIX + "cancelled",
    "title": "Cancelled",
    "status": 409,
    "code": "cancelled",
    "detail": "the job was cancelled before it finished",
}


def page_cursor(job: Job) -> str:
    return f"{job.created_at!r}:{job.id}"


def parse_cursor(cursor: str) -> tuple[float, str]:
    at, _, job_id = cursor.partition(":")
    try:
        return float(at), job_id
    except ValueError:
        raise ValueError(f"not a page cursor from this API: {cursor!r}") from None


def ids(found: Sequence[Job]) -> list[str]:
    return [job.id for job in found]
