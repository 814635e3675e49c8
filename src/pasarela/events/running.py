"""What a serving process runs for events, in the background: the tail (following the log), the
webhook fan-out, and a consumer per broker or change-data-capture source."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import structlog

from pasarela.events.outbound import WebhookFanout
from pasarela.events.service import Events
from pasarela.identity.principal import Principal
from pasarela.telemetry import GatewayMetrics
from pasarela.webhooks import Webhooks

log = structlog.get_logger("pasarela.events")


async def run_events(
    events: Callable[[], Events],
    webhooks: Callable[[], Webhooks],
    principals: Callable[[], dict[str, Principal]],
    metrics: GatewayMetrics | None,
) -> None:
    """Until cancelled."""
    current = events()
    current.activate()
    core = current.core
    fanout = WebhookFanout(
        core.log,
        core.tail,
        lambda: events().access,
        webhooks,
        principals,
        metrics,
        current.settings.poll_interval,
    )
    async with anyio.create_task_group() as group:
        group.start_soon(core.tail.run)
        group.start_soon(fanout.run)
        group.start_soon(_run_sources, events)


async def _run_sources(events: Callable[[], Events]) -> None:
    from pasarela.events.sources.consumers import run_consumers

    await run_consumers(events)
