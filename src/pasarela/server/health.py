"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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
        audit = self.live.runtime.audit
        if audit is not None and not audit.healthy:
            # Not ready: a load balancer should send calls to a replica that can audit them.
            return json_response({"status": "audit_unavailable", "queued": audit.pending}, status=503)
        return json_response({"status": "ready", "tools": len(self.live.runtime.gateway.catalog)})

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(self.live.runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
