"""A finished job told to its owner's webhook endpoints (`job.completed`, `job.failed`,
`job.cancelled`), once per job and ending however many workers saw it end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.exc import SQLAlchemyError

from pasarela import jsonsafe
from pasarela.jobs.model import Job
from pasarela.webhooks import Webhooks

log = structlog.get_logger("pasarela.jobs")

MAX_RESULT_BYTES = 256 * 1024  # a bigger result is fetched from the job, not carried by the webhook
Finished = Callable[[Job], Awaitable[None]]


def notifying(webhooks: Callable[[], Webhooks], then: Finished | None = None) -> Finished:
    """What a worker calls when a job ends: `then` (e.g. waking long-polls), then the webhooks."""

    async def finished(job: Job) -> None:
        if then is not None:
            await then(job)
        event = f"job.{job.status}"
        data = job.public()
        if len(jsonsafe.dumps(data)) > MAX_RESULT_BYTES:
            data.pop("result", None)
            data["result_too_large"] = True
        data["url"] = f"/v1/jobs/{job.id}"
        try:
            await webhooks().notify(job.owner, event, data, message_id=f"{job.id}.{job.status}")
        except (SQLAlchemyError, OSError, ValueError, TypeError) as exc:  # the job's end stands
            log.error("job_webhook_failed", job=job.id, event=event, error=f"{type(exc).__name__}: {exc}")

    return finished
