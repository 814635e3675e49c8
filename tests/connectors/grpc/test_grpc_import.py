"""gRPC services become tools: by reflection, from descriptor sets, from .proto files; names,
descriptions from proto comments, annotations from idempotency_level, include/exclude/rename."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pasarela.errors import ConfigError
from tests.connectors.grpc.helpers import ACCESS, NOWHERE, backend, call
from tests.connectors.grpc.lab_server import PROTOS, LabServer
from tests.helpers.gateway import gateway_for

pytestmark = pytest.mark.anyio

LAB_TOOLS = {"Lab_Echo", "Fail", "Slow", "Count", "WhoAmI", "Stamp", "Other_Echo"}


async def test_reflection_finds_every_unary_and_server_streaming_method(
    tmp_path: Path, lab: LabServer
) -> None:
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab), extra=ACCESS) as (client, runtime):
        catalog = runtime.gateway.catalog
        grpc_tools = {name for name in catalog.names() if catalog.get(name).backend == "lab"}
        # Upload (client streaming) and Chat (bidirectional) are left out; health and reflection too.
        assert grpc_tools == LAB_TOOLS
        echo = catalog.get("Lab_Echo")
        assert echo.origin == "testing.v1.Lab.Echo"
        assert set(echo.tags) == {"grpc", "testing.v1.Lab", "Lab"}
        # grpcio's reflection serves descriptors without comments: a description is made up.
        assert echo.description == "Echo of testing.v1.Lab (gRPC)"
        assert echo.annotations.read_only and echo.annotations.idempotent
        fail, slow = catalog.get("Fail"), catalog.get("Slow")
        assert fail.annotations.idempotent and not fail.annotations.read_only  # IDEMPOTENT
        assert not slow.annotations.idempotent and not slow.annotations.read_only  # nothing declared
        count = catalog.get("Count")
        assert count.output_schema is not None
        assert count.output_schema["required"] == ["messages", "count", "truncated"]
        answer = await call(client, "Other_Echo", {"id": "n-1", "level": 3})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"] == {"id": "n-1", "level": 3}


async def test_descriptor_set_without_reflection_carries_the_comments(
    tmp_path: Path, descriptor_set: Path, lab_without_reflection: LabServer
) -> None:
    shutil.copy(descriptor_set, tmp_path / "lab.binpb")
    extra = "    descriptor_sets: [lab.binpb]\n"
    async with gateway_for(
        tmp_path, NOWHERE, backends=backend(lab_without_reflection, extra), extra=ACCESS
    ) as (client, runtime):
        catalog = runtime.gateway.catalog
        assert catalog.get("Lab_Echo").description == "Echo answers with what it was sent."
        schema = catalog.get("Lab_Echo").input_schema
        assert schema["properties"]["i64"]["description"] == "A 64-bit integer: a string in JSON."
        nested = schema["$defs"]["testing.v1.Nested"]
        assert nested["description"] == "Something small, nested in bigger things."
        assert "RED: Like a pillar box." in schema["properties"]["color"]["description"]
        assert "up to the backend's max_messages" in catalog.get("Count").description
        answer = await call(client, "Slow", {"seconds": 0})
        assert answer.status_code == 200, answer.text


async def test_proto_files_are_compiled_at_load(tmp_path: Path, lab_without_reflection: LabServer) -> None:
    protos = tmp_path / "protos"
    shutil.copytree(PROTOS, protos)
    extra = "    protos: [protos/lab.proto, protos/other.proto]\n    include_paths: [protos]\n"
    async with gateway_for(
        tmp_path, NOWHERE, backends=backend(lab_without_reflection, extra), extra=ACCESS
    ) as (client, runtime):
        assert runtime.gateway.catalog.get("Count").description.startswith(
            "Count streams the numbers from 1."
        )
        answer = await call(client, "Lab_Echo", {"text": "compiled"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["text"] == "compiled"


async def test_a_descriptor_set_without_imports_takes_the_well_known_types_from_protobuf(
    tmp_path: Path, lab: LabServer
) -> None:
    from tests.connectors.grpc.lab_server import compile_descriptor_set

    compile_descriptor_set(tmp_path / "lab.binpb", include_imports=False)
    extra = "    descriptor_sets: [lab.binpb]\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, extra), extra=ACCESS) as (client, _):
        answer = await call(client, "Stamp", {"value": "2026-03-01T10:00:00Z"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"] == "2026-03-01T10:00:00Z"


async def test_include_exclude_and_rename_by_method_service_or_tool(tmp_path: Path, lab: LabServer) -> None:
    selection = (
        "    tools:\n"
        "      include: [testing.v1.Lab, Other]\n"  # a service by full or short name
        "      exclude: [Slow, testing.v1.Lab.Fail]\n"  # a tool name, a method's full name
        "      rename: {testing.v1.Lab.Echo: echo_everything, Count: count_up}\n"
    )
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, selection), extra=ACCESS) as (
        client,
        runtime,
    ):
        names = {
            n for n in runtime.gateway.catalog.names() if runtime.gateway.catalog.get(n).backend == "lab"
        }
        assert names == {"echo_everything", "count_up", "WhoAmI", "Stamp", "Other_Echo"}
        answer = await call(client, "count_up", {"up_to": 2})
        assert answer.json()["result"]["count"] == 2


async def test_selection_naming_nothing_is_an_error_naming_the_key(tmp_path: Path, lab: LabServer) -> None:
    selection = "    tools:\n      include: [testing.v1.Nowhere]\n"
    with pytest.raises(ConfigError) as caught:
        async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, selection), extra=ACCESS):
            pass
    assert "backends.lab.tools.include[0]: no operation, tool or tag named 'testing.v1.Nowhere'" in str(
        caught.value
    )
