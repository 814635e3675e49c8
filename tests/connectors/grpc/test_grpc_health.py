"""The standard health service feeds /readyz: reported always, and /readyz is 503 while a
backend marked `required` is not serving."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from grpc_health.v1 import health_pb2

from tests.connectors.grpc.helpers import ACCESS, NOWHERE, backend
from tests.connectors.grpc.lab_server import LabServer
from tests.helpers.gateway import gateway_for

pytestmark = pytest.mark.anyio

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_health_is_reported_without_failing_readiness(tmp_path: Path, lab: LabServer) -> None:
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab), extra=ACCESS) as (client, runtime):
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["backends"] == {"lab": {"status": "serving", "required": False}}
        lab.set_health(NOT_SERVING)
        runtime.gateway.connectors["lab"]._probe._at = 0.0  # type: ignore[attr-defined]  # forget the kept answer
        ready = await client.get("/readyz")
        assert ready.status_code == 200  # one failing system need not take the replica out
        assert ready.json()["backends"]["lab"]["status"] == "not_serving"


async def test_a_required_backend_that_is_not_serving_makes_the_gateway_unready(
    tmp_path: Path, lab: LabServer
) -> None:
    extra = "    health_check: {service: testing.v1.Lab, required: true}\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, extra), extra=ACCESS) as (
        client,
        runtime,
    ):
        lab.set_health(NOT_SERVING, "testing.v1.Lab")
        connector = runtime.gateway.connectors["lab"]
        connector._probe._at = 0.0  # type: ignore[attr-defined]  # forget the kept answer
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "backend_unavailable"
        assert ready.json()["backends"]["lab"] == {"status": "not_serving", "required": True}
        lab.set_health(SERVING, "testing.v1.Lab")
        connector._probe._at = 0.0  # type: ignore[attr-defined]
        assert (await client.get("/readyz")).status_code == 200


async def test_an_unknown_service_and_a_stopped_server_are_named(tmp_path: Path, lab: LabServer) -> None:
    extra = "    health_check: {service: no.such.Service}\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, extra), extra=ACCESS) as (
        client,
        runtime,
    ):
        assert (await client.get("/readyz")).json()["backends"]["lab"]["status"] == "service_unknown"
        lab.__exit__(None, None, None)
        runtime.gateway.connectors["lab"]._probe._at = 0.0  # type: ignore[attr-defined]
        health = (await client.get("/readyz")).json()["backends"]["lab"]
        assert health["status"] == "unavailable" and health["detail"] == "UNAVAILABLE"


async def test_probes_are_shared_so_readyz_cannot_flood_a_backend(tmp_path: Path, lab: LabServer) -> None:
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab), extra=ACCESS) as (client, runtime):
        probe = runtime.gateway.connectors["lab"]._probe  # type: ignore[attr-defined]
        asked = 0
        original = probe._ask

        async def counting() -> object:
            nonlocal asked
            asked += 1
            return await original()

        probe._ask = counting
        probe._at = 0.0
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(client.get, "/readyz")
        assert asked == 1


async def test_health_checks_can_be_turned_off(tmp_path: Path, lab: LabServer) -> None:
    extra = "    health_check: {enabled: false}\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, extra), extra=ACCESS) as (client, _):
        assert "backends" not in (await client.get("/readyz")).json()
