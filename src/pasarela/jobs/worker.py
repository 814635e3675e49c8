"""Workers: claim due jobs, run each through the whole pipeline as its owner, record the end.

A worker holds a lease on every job it runs and renews them together about once a second; the
same renewal tells it which of its jobs were asked to stop. A worker that dies leaves leases that
run out, and the jobs are claimed again (at least once; the backend sees the same
`Idempotency-Key` on every attempt). Stopping a worker gives its jobs back at once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import structlog
from sqlalchemy.exc import SQLAlchemyError

from pasarela.config.jobs import JobsSettings
from pasarela.errors import PROBLEM_TYPE_PREFIX, PasarelaError
from pasarela.jobs import events
from pasarela.jobs.model import Job, JobStatus
from pasarela.jobs.store import CANCELLED, JobStore
from pasarela.pipeline import Door
from pasarela.pipeline.gateway import Gateway
from pasarela.telemetry.metrics import GatewayMetrics

log = structlog.get_logger("pasarela.jobs")

# Failures a later run may not meet: the backend was down, busy or slow, or the audit was.
TRANSIENT = frozenset(
    {
        "upstream_unavailable",
        "circuit_open",
        "caller_circuit_open",
        "throttled",
        "upstream_timeout",
        "audit_unavailable",
        "rate_limited",
    }
)
STORE_ERRORS = (SQLAlchemyError, OSError)  # the database is away: retried, never fatal
CLAIM_GATHER = 0.005  # seconds a busy worker waits for more free slots before it claims
PROGRESS_EVERY = 0.25  # seconds between stored progress reports of one job (the last one always)
SWEEP_EVERY = 5.0  # seconds between expiry sweeps and queue-depth readings

Finished = Callable[[Job], Awaitable[None]]


def backoff(attempt: int) -> float:
    """Seconds before run `attempt + 1` after a transient failure: 2 s, 10 s, 50 s, then 5 min."""
    return float(min(300, 2 * 5 ** (attempt - 1)))


class JobWorker:
    def __init__(
        self,
        store: JobStore,
        gateway: Callable[[], Gateway],
        settings: JobsSettings,
        metrics: GatewayMetrics,
        *,
        on_finish: Finished | None = None,
        name: str | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway  # the current one: a reload replaces it
        self.settings = settings
        self.metrics = metrics
        self.on_finish = on_finish
        self.name = name or f"worker-{uuid.uuid4().hex[:12]}"
        self._wake = anyio.Event()
        self._running: dict[str, anyio.CancelScope] = {}

    def wake(self) -> None:
        """New work may be due (a job was created or retried in this process)."""
        self._wake.set()

    def stop_job(self, job_id: str) -> bool:
        """Cancel `job_id` now if this worker runs it (its owner cancelled it)."""
        scope = self._running.get(job_id)
        if scope is None:
            return False
        scope.cancel()
        return True

    async def run(self) -> None:
        """Run jobs until cancelled."""
        if self.settings.workers == 0:
            return
        async with anyio.create_task_group() as group:
            group.start_soon(self._renew_leases)
            group.start_soon(self._sweep)
            if self.store.shared:
                group.start_soon(self._listen)
            await self._claim_forever(group)

    async def _claim_forever(self, group: anyio.abc.TaskGroup) -> None:
        batch = max(1, self.settings.workers // 4)
        while True:
            free = self.settings.workers - len(self._running)
            if 0 < free < batch:
                # Busy: let a few more slots free up and claim them together — a claim ranks
                # every due job, so one claim per finished job would cost the store the most.
                await anyio.sleep(CLAIM_GATHER)
                free = self.settings.workers - len(self._running)
            claimed: list[Job] = []
            if free > 0:
                try:
                    # Shielded, as every short query here: a query cancelled half-way leaves its
                    # aiosqlite connection closing forever (the loop cannot end); jobs claimed as the
                    # worker stops are started, see the cancellation, and are given back.
                    with anyio.CancelScope(shield=True):
                        claimed = await self.store.claim(self.name, free, self.settings.lease)
                except STORE_ERRORS as exc:  # the store is down: keep trying, loudly
                    log.error("jobs_claim_failed", worker=self.name, error=f"{type(exc).__name__}: {exc}")
            for job in claimed:
                scope = anyio.CancelScope()
                self._running[job.id] = scope
                group.start_soon(self._run, job, scope)
            if claimed and len(claimed) == free:
                continue  # there may be more at once
            self._wake = anyio.Event()
            with anyio.move_on_after(self.settings.poll_interval):
                await self._wake.wait()

    async def _run(self, job: Job, scope: anyio.CancelScope) -> None:
        try:
            if job.attempts > job.max_attempts or job.cancel_requested:
                with anyio.CancelScope(shield=True):
                    if job.cancel_requested:
                        await self._end(job, JobStatus.CANCELLED, problem=CANCELLED)
                    else:  # leases ran out: its workers kept dying
                        await self._end(job, JobStatus.FAILED, problem=_exhausted(job))
                        events.record(self.gateway(), job.principal, job, "job_abandoned")
                return
            await self._attempt(job, scope)
        except Exception:
            log.exception("job_worker_failed", job=job.id, tool=job.tool)
        finally:
            self._running.pop(job.id, None)
            self.wake()  # a slot is free

    async def _attempt(self, job: Job, scope: anyio.CancelScope) -> None:
        self.metrics.job_runs.labels(job.tool).inc()
        started = time.perf_counter()
        outcome: Any = None
        error: PasarelaError | None = None
        try:
            with scope:
                outcome, error = await self._call(job)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):  # this worker is stopping: give the job back
                await self.store.again_later(job, self.name, 0.0, _interrupted(job), give_back=True)
            raise
        self.metrics.job_duration.labels(job.tool).observe(time.perf_counter() - started)
        with anyio.CancelScope(shield=True):  # the end is recorded even while we shut down
            if scope.cancelled_caught:  # its owner cancelled it
                await self._end(job, JobStatus.CANCELLED, problem=CANCELLED)
            elif error is None:
                result = {"result": outcome.result, "meta": outcome.public_meta()}
                await self._end(job, JobStatus.COMPLETED, outcome=result)
            elif error.code in TRANSIENT and job.attempts < job.max_attempts:
                delay = max(backoff(job.attempts), error.retry_after or 0.0)
                log.info(
                    "job_retry", job=job.id, tool=job.tool, attempt=job.attempts, code=error.code, delay=delay
                )
                await self.store.again_later(job, self.name, delay, error.to_problem())
            else:
                await self._end(job, JobStatus.FAILED, problem=error.to_problem())

    async def _call(self, job: Job) -> tuple[Any, PasarelaError | None]:
        try:
            outcome = await self.gateway().run_job(
                job.principal,
                job.tool,
                job.arguments,
                door=Door(job.door),
                request_id=f"{job.id}-run-{job.attempts}",
                parent_id=job.request_id,
                effect_key=job.effect_key,
                timeout=job.timeout,
                progress=self._reporter(job),
                attempt=job.attempts,
                started_by=job.traceparent,
            )
        except PasarelaError as exc:
            return None, exc
        return outcome, None

    async def _end(
        self,
        job: Job,
        status: JobStatus,
        *,
        outcome: dict[str, Any] | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        ended = await self.store.finish(job, self.name, status, outcome=outcome, problem=problem)
        if ended is None:
            return  # another worker took it over after our lease ran out: its ending counts
        self.metrics.jobs_finished.labels(job.tool, str(status)).inc()
        log.info("job_finished", job=job.id, tool=job.tool, status=str(status), attempts=job.attempts)
        if self.on_finish is not None:
            await self.on_finish(ended)

    def _reporter(self, job: Job) -> Callable[[float | None, str | None], Awaitable[None]]:
        last = 0.0

        async def report(fraction: float | None, message: str | None) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < PROGRESS_EVERY and (fraction is None or fraction < 1.0):
                return  # a chatty tool must not turn into a write storm
            last = now
            await self.store.report(job.id, self.name, fraction, message)

        return report

    async def _renew_leases(self) -> None:
        every = min(1.0, self.settings.lease / 3)
        while True:
            await anyio.sleep(every)
            if not self._running:
                continue
            try:
                with anyio.CancelScope(shield=True):  # never cut a statement halfway (aiosqlite)
                    stopping = await self.store.renew(self.name, self.settings.lease)
            except STORE_ERRORS as exc:
                log.error("jobs_renew_failed", worker=self.name, error=f"{type(exc).__name__}: {exc}")
                continue
            for job_id in stopping:
                self.stop_job(job_id)

    async def _sweep(self) -> None:
        while True:
            await anyio.sleep(SWEEP_EVERY)
            try:
                with anyio.CancelScope(shield=True):  # never cut a statement halfway (aiosqlite)
                    expired = await self.store.expire()
                    depth, oldest = await self.store.depth()
                if expired:
                    log.info("jobs_expired", count=expired)
                self.metrics.jobs_queued.set(depth)
                self.metrics.jobs_oldest_queued.set(oldest or 0.0)
            except STORE_ERRORS as exc:
                log.error("jobs_sweep_failed", error=f"{type(exc).__name__}: {exc}")

    async def _listen(self) -> None:
        """PostgreSQL: be woken by NOTIFY when any process queues work (polling stays as a net)."""
        from pasarela.jobs.listen import listen

        await listen(self.store.state, self.wake)


def _exhausted(job: Job) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_PREFIX + "job_abandoned",
        "title": "Job abandoned",
        "status": 500,
        "code": "job_abandoned",
        "detail": f"the workers running this job stopped {job.max_attempts} time(s) before it finished",
    }


def _interrupted(job: Job) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_PREFIX + "interrupted",
        "title": "Interrupted",
        "status": 503,
        "code": "interrupted",
        "detail": "the worker running this job stopped; it runs again",
    }
