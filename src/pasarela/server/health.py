"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Mapping

import anyio
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pasarela.connectors.base import BackendHealth, Connector, ReportsHealth
from pasarela.server.live import LiveRuntime
from pasarela.server.rest import json_response


class HealthRoutes:
    def __init__(self, live: LiveRuntime) -> None:
        self.live = live
        self.ready = False  # set once the app's lifespan has started every part

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if not self.ready:
            return json_response({"status": "starting"}, status=503)
        runtime = self.live.runtime
        audit = runtime.audit
        if audit is not None and not audit.healthy:
            # Not ready: a load balancer should send calls to a replica that can audit them.
            return json_response({"status": "audit_unavailable", "queued": audit.pending}, status=503)
        body: dict[str, object] = {"status": "ready", "tools": len(runtime.gateway.catalog)}
        health = await backend_health(runtime.gateway.connectors)
        if health:
            body["backends"] = {
                name: {"status": h.status, "required": h.required}
                | ({"detail": h.detail} if h.detail else {})
                for name, h in health.items()
            }
            if any(h.required and not h.serving for h in health.values()):
                # Only backends marked `required`: one failing system need not take every replica out.
                body["status"] = "backend_unavailable"
                return json_response(body, status=503)
        return json_response(body)

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(self.live.runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def backend_health(connectors: Mapping[str, Connector]) -> dict[str, BackendHealth]:
    """What every backend with a health service of its own says, asked at once."""
    found: dict[str, BackendHealth] = {}

    async def ask(name: str, connector: ReportsHealth) -> None:
        answer = await connector.health()
        if answer is not None:
            found[name] = answer

    async with anyio.create_task_group() as group:
        for name, connector in connectors.items():
            if isinstance(connector, ReportsHealth):
                group.start_soon(ask, name, connector)
    return dict(sorted(found.items()))
