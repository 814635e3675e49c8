"""The standard gRPC health service (grpc.health.v1.Health/Check), for /readyz.

/readyz needs no credential, so the answer is kept for a second: however often it is asked,
a backend sees at most one check a second from each replica, and concurrent probes share it.
"""

from __future__ import annotations

from grpc_health.v1 import health_pb2

import grpc
from pasarela.config.grpc import GrpcHealthSettings
from pasarela.connectors.base import BackendHealth
from pasarela.connectors.grpc.channel import Metadata
from pasarela.connectors.probe import ThrottledProbe

CHECK = "/grpc.health.v1.Health/Check"
_STATUSES = {
    health_pb2.HealthCheckResponse.SERVING: "serving",
    health_pb2.HealthCheckResponse.NOT_SERVING: "not_serving",
    health_pb2.HealthCheckResponse.SERVICE_UNKNOWN: "service_unknown",
}
_FAILURES = {
    grpc.StatusCode.UNIMPLEMENTED: "no_health_service",
    grpc.StatusCode.NOT_FOUND: "service_unknown",  # grpcio's servicer for a name it does not know
    grpc.StatusCode.UNAVAILABLE: "unavailable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
}


class HealthProbe(ThrottledProbe):
    def __init__(self, channel: grpc.aio.Channel, settings: GrpcHealthSettings, metadata: Metadata) -> None:
        self.settings = settings
        self._metadata = metadata
        self._check = channel.unary_unary(
            CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        super().__init__()

    async def _ask(self) -> BackendHealth:
        required = self.settings.required
        request = health_pb2.HealthCheckRequest(service=self.settings.service)
        try:
            answer = await self._check(request, metadata=self._metadata, timeout=self.settings.timeout)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            status = _FAILURES.get(code, "failing")
            return BackendHealth(status, required, f"{code.name if code else 'UNKNOWN'}")
        assert isinstance(answer, health_pb2.HealthCheckResponse)
        return BackendHealth(_STATUSES.get(answer.status, "unknown"), required)
