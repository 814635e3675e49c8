"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pasarela.pipeline import Gateway
from pasarela.server.rest import json_response
from pasarela.telemetry import GatewayMetrics


class HealthRoutes:
    def __init__(self, gateway: Gateway, metrics: GatewayMetrics) -> None:
        self.gateway = gateway
        self.metrics = metrics
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
        return json_response({"status": "ready", "tools": len(self.gateway.catalog)})

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)
