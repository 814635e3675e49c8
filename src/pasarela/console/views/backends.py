"""Backends: health (the backend's own, and the last hour's calls), breaker state, bulkhead use."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starlette.responses import Response

from pasarela.console.core import Visit
from pasarela.console.render import page
from pasarela.resilience import BackendGuard, ResilienceStage
from pasarela.server.health import backend_health
from pasarela.telemetry.kpis import compute_kpis

RECENT = 3600.0


@dataclass(frozen=True, slots=True)
class BackendRow:
    name: str
    kind: str
    address: str | None
    health: str | None
    breaker: str
    bulkhead: str
    timeout: float
    retries: int
    recent: dict[str, Any] | None


async def backends(visit: Visit) -> Response:
    runtime = visit.runtime
    guards = _guards(runtime.gateway.stages)
    health = await backend_health(runtime.gateway.connectors)
    recent = (await compute_kpis(runtime.state, time.time() - RECENT)).backends
    rows = []
    for name, settings in runtime.config.settings.backends.items():
        guard = guards.get(name)
        said = health.get(name)
        rows.append(
            BackendRow(
                name=name,
                kind=settings.kind,
                address=_address(getattr(settings, "base_url", None) or getattr(settings, "url", None)),
                health=None if said is None else said.status + (f" ({said.detail})" if said.detail else ""),
                breaker=await _breaker(guard, settings.circuit_breaker.enabled),
                bulkhead=_bulkhead(guard),
                timeout=settings.timeout,
                retries=settings.retry.attempts,
                recent=recent.get(name),
            )
        )
    return page(visit, "backends.html", rows=rows)


def _guards(stages: tuple[Any, ...]) -> dict[str, BackendGuard]:
    for stage in stages:
        if isinstance(stage, ResilienceStage):
            return dict(stage.guards)
    return {}


async def _breaker(guard: BackendGuard | None, enabled: bool) -> str:
    if guard is None or not enabled:
        return "off"
    return (await guard.breaker.state()).name.lower().replace("_", "-")


def _bulkhead(guard: BackendGuard | None) -> str:
    if guard is None or guard.bulkhead.limit is None:
        return "unbounded"
    bulkhead = guard.bulkhead
    return f"{bulkhead.in_flight} / {bulkhead.limit} in flight, {bulkhead.waiting} waiting"


def _address(url: Any) -> str | None:
    """A backend's address without credentials, query or fragment (a URL may carry a password)."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
