"""What the doors do with jobs: start one (as far as the call's admission), look, wait, cancel.

A job belongs to the principal that started it: to anyone else it does not exist (404), unless
a policy permits `Action::"read_job"` (looking) or `Action::"cancel_job"` (cancelling) on its
tool — e.g. compliance reading everyone's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from pasarela.config.jobs import JobsSettings
from pasarela.errors import JobConflict, JobNotFound, PasarelaError
from pasarela.identity.principal import Principal
from pasarela.jobs import events
from pasarela.jobs.model import Job
from pasarela.jobs.store import JobStore, NewJob
from pasarela.jobs.worker import JobWorker
from pasarela.pipeline import Door
from pasarela.pipeline.call import Call, Outcome
from pasarela.pipeline.gateway import Gateway

WAIT_POLL = 0.2  # seconds between looks at the store while waiting for a job another process runs


@dataclass(frozen=True, slots=True)
class Started:
    job: Job
    created: bool  # False: an Idempotency-Key already started it


class Jobs:
    def __init__(
        self,
        store: JobStore,
        settings: JobsSettings,
        gateway: Callable[[], Gateway],
        worker: JobWorker | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.gateway = gateway
        self.worker = worker
        self._finished: dict[str, anyio.Event] = {}

    async def start(
        self,
        principal: Principal,
        tool: str,
        arguments: dict[str, Any] | None,
        *,
        door: Door,
        request_id: str,
        client_key: str | None = None,
    ) -> Started:
        """Admit the call (policy, validation, audit) and store it as a queued job."""
        gateway = self.gateway()
        plan = gateway.plan_of(tool)
        if plan.execution == "sync":
            raise JobConflict(f"tool {tool!r} does not run as a job (execution: sync): call it directly")
        started: list[Started] = []

        async def enqueue(call: Call) -> Outcome:
            job, created = await self.store.create(
                NewJob(
                    principal=call.principal,
                    tool=call.tool.name,
                    arguments=dict(call.arguments),
                    door=str(call.door),
                    request_id=call.request_id,
                    client_key=client_key,
                    max_attempts=plan.job.attempts,
                    timeout=plan.job.timeout,
                    retention=plan.job.retention,
                    traceparent=gateway.traceparent(),
                )
            )
            started.append(Started(job, created))
            return Outcome({"job": job.id}, source="jobs")

        await gateway.admit(principal, tool, arguments, door=door, request_id=request_id, then=enqueue)
        if self.worker is not None:
            self.worker.wake()
        return started[0]

    async def get(self, principal: Principal, job_id: str, *, action: str = "read_job") -> Job:
        """The job, if `principal` owns it or a policy lets it act on others' (else 404)."""
        job = await self.store.get(job_id) if _plausible(job_id) else None
        if job is None or not self._may(principal, job, action):
            raise JobNotFound(f"no job {job_id!r} of yours")
        return job

    async def wait(self, principal: Principal, job_id: str, seconds: float) -> Job:
        """The job once finished, or as it is after `seconds` (at most `jobs.max_wait`)."""
        job = await self.get(principal, job_id)
        deadline = anyio.current_time() + min(max(seconds, 0.0), self.settings.max_wait)
        while not job.status.finished and anyio.current_time() < deadline:
            event = self._finished.setdefault(job_id, anyio.Event())
            # Woken at once when this process finished it; otherwise another process may have.
            with anyio.move_on_after(min(WAIT_POLL, max(0.0, deadline - anyio.current_time()))):
                await event.wait()
            job = await self.get(principal, job_id)
        return job

    async def cancel(self, principal: Principal, job_id: str) -> Job:
        job = await self.get(principal, job_id, action="cancel_job")
        if job.status.finished:
            return job
        cancelled = await self.store.cancel(job_id)
        events.record(self.gateway(), principal, job, "job_cancelled")
        if self.worker is not None:
            self.worker.stop_job(job_id)  # at once when it runs here; else at its worker's renewal
        if cancelled is None:
            raise JobNotFound(f"no job {job_id!r} of yours")
        if cancelled.status.finished:
            await self.finished(cancelled)
        return cancelled

    async def page(
        self,
        principal: Principal,
        *,
        status: str | None,
        tool: str | None,
        limit: int,
        before: tuple[float, str] | None,
    ) -> list[Job]:
        return await self.store.page(owner=principal.id, status=status, tool=tool, limit=limit, before=before)

    async def finished(self, job: Job) -> None:
        """A job ended (here): wake whoever waits for it."""
        event = self._finished.pop(job.id, None)
        if event is not None:
            event.set()

    def _may(self, principal: Principal, job: Job, action: str) -> bool:
        if job.owner == principal.id:
            return True
        gateway = self.gateway()
        try:
            tool = gateway.catalog.get(job.tool)
        except PasarelaError:
            return False
        looking = Call(principal, tool, {}, Door.REST, request_id=f"job-{job.id}")
        return gateway.authorizer.decide(looking, action).allowed


def _plausible(job_id: str) -> bool:
    return 0 < len(job_id) <= 40 and job_id.isalnum()
