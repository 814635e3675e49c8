"""`pasarela jobs` (an operator's view of every principal's jobs) and `pasarela worker`."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console
from rich.table import Table

from pasarela.assembly import Runtime
from pasarela.commands.common import (
    ConfigOption,
    ExitCode,
    err,
    load,
    print_json,
    quiet_logs,
    with_runtime,
    with_state,
)
from pasarela.config import DEFAULT_CONFIG
from pasarela.jobs import Job, JobStore, JobWorker
from pasarela.jobs.model import JobStatus
from pasarela.jobs.notify import notifying
from pasarela.state import StateStore
from pasarela.telemetry import configure_logging

jobs_app = typer.Typer(help="Durable jobs: list, show, cancel, retry.", no_args_is_help=True)
JobId = Annotated[str, typer.Argument(help="The job's id.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _store(state: StateStore) -> JobStore:
    return JobStore(state, max_active=sys.maxsize)


@jobs_app.command("list")
def jobs_list(
    config: ConfigOption = Path(DEFAULT_CONFIG),
    principal: Annotated[str | None, typer.Option(help="Only this principal's jobs.")] = None,
    status: Annotated[
        str | None, typer.Option(help="queued, running, completed, failed or cancelled.")
    ] = None,
    tool: Annotated[str | None, typer.Option(help="Only jobs of this tool.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """The newest jobs first."""
    if status is not None and status not in {str(s) for s in JobStatus}:
        err.print(f"--status: expected one of {', '.join(str(s) for s in JobStatus)}, got {status!r}")
        raise typer.Exit(ExitCode.USAGE)
    loaded = load(config)
    quiet_logs(loaded)

    async def work(state: StateStore) -> list[Job]:
        return await _store(state).page(owner=principal, status=status, tool=tool, limit=limit)

    found = with_state(loaded, work, schema="read")
    if as_json:
        print_json([{**job.public(), "owner": job.owner} for job in found])
        return
    table = Table("id", "owner", "tool", "status", "attempts", "created", "progress")
    for job in found:
        progress = "" if job.progress is None else f"{job.progress:.0%} {job.message or ''}"
        table.add_row(
            job.id,
            job.owner,
            job.tool,
            str(job.status),
            str(job.attempts),
            job.public()["created_at"],
            progress,
        )
    Console(highlight=False, width=200).print(table)  # stdout: what the command answers


def _one(config: Path, job_id: str, change: str | None = None) -> Job:
    loaded = load(config)
    quiet_logs(loaded)

    async def work(state: StateStore) -> Job | None:
        store = _store(state)
        if change == "cancel":
            return await store.cancel(job_id)
        if change == "retry":
            return await store.retry(job_id)
        return await store.get(job_id)

    job = with_state(loaded, work, schema="read" if change is None else "check")
    if job is None:
        err.print(f"no job {job_id!r}")
        raise typer.Exit(ExitCode.NO)
    return job


@jobs_app.command("show")
def jobs_show(job_id: JobId, config: ConfigOption = Path(DEFAULT_CONFIG)) -> None:
    """One job: status, progress, result or problem (its arguments are not shown)."""
    job = _one(config, job_id)
    print_json({**job.public(), "owner": job.owner, "request_id": job.request_id})


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobId, config: ConfigOption = Path(DEFAULT_CONFIG)) -> None:
    """Cancel a queued job now, or ask a running one's worker to stop it."""
    job = _one(config, job_id, "cancel")
    print_json(job.public())


@jobs_app.command("retry")
def jobs_retry(job_id: JobId, config: ConfigOption = Path(DEFAULT_CONFIG)) -> None:
    """Queue a failed or cancelled job again, its attempts counted afresh."""
    job = _one(config, job_id, "retry")
    if job.status is not JobStatus.QUEUED:
        err.print(f"job {job_id} is {job.status}: only failed or cancelled jobs are retried")
        raise typer.Exit(ExitCode.NO)
    print_json(job.public())


def worker(config: ConfigOption = Path(DEFAULT_CONFIG)) -> None:
    """Run jobs without serving agents (`jobs.workers` at once); several of them can share one
    PostgreSQL. SIGTERM or Ctrl-C gives running jobs back and stops."""
    loaded = load(config)
    configure_logging(loaded.redactor, level=loaded.settings.logging.level, fmt="json", stream=sys.stderr)
    settings = loaded.settings.jobs
    if settings.workers == 0:
        err.print("jobs.workers is 0: this worker would run nothing")
        raise typer.Exit(ExitCode.ERROR)

    async def work(runtime: Runtime) -> None:
        store = JobStore(runtime.state, max_active=settings.max_active_per_principal)
        runner = JobWorker(
            store,
            lambda: runtime.gateway,
            settings,
            runtime.metrics,
            on_finish=notifying(lambda: runtime.webhooks),
        )
        await runtime.webhooks.start()  # the ends it notifies are delivered from here too
        async with anyio.create_task_group() as group:

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        group.cancel_scope.cancel()
                        return

            group.start_soon(stop_on_signal)
            group.start_soon(runner.run)
        err.print("worker stopped")

    with_runtime(loaded, work)
