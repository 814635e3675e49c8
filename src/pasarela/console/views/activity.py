"""Jobs (the queue and the latest jobs) and events (sources, the log, the latest events).

Neither shows arguments, results or event data: those belong to the agents concerned, and the
audit trail already records who asked what.
"""

from __future__ import annotations

from starlette.responses import Response

from pasarela.console.core import Visit
from pasarela.console.render import page
from pasarela.jobs import JobStore

LATEST = 50


async def jobs(visit: Visit) -> Response:
    runtime = visit.runtime
    store = JobStore(runtime.state, max_active=runtime.config.settings.jobs.max_active_per_principal)
    status = visit.request.query_params.get("status") or None
    statuses = ("queued", "running", "completed", "failed", "cancelled")
    latest = await store.page(owner=None, status=status if status in statuses else None, limit=LATEST)
    queued, oldest = await store.depth()
    return page(
        visit,
        "jobs.html",
        jobs=latest,
        queued=queued,
        oldest=oldest,
        chosen=status if status in statuses else "",
        statuses=statuses,
        workers=runtime.config.settings.jobs.workers,
    )


async def events(visit: Visit) -> Response:
    runtime = visit.runtime
    log = runtime.events.log
    oldest, last = await log.bounds()
    latest = await log.read(max(oldest - 1, last - LATEST), LATEST) if last else []
    latest.reverse()
    sources = [
        {"name": name, "kind": _kind(source)}
        for name, source in runtime.config.settings.events.sources.items()
    ]
    return page(
        visit,
        "events.html",
        sources=sources,
        oldest=oldest,
        last=last,
        stored=await log.count(),
        events=latest,
    )


def _kind(source: object) -> str:
    kinds = ("webhook", "nats", "rabbitmq", "redis", "postgres_cdc", "sql_polling")
    found = [kind for kind in kinds if getattr(source, kind, None) is not None]
    return ", ".join(found) or "–"
