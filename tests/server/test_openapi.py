"""`GET /v1/openapi.json`: the REST door as OpenAPI 3.1 for the caller, valid by
openapi-spec-validator, one operation per tool it may call — and calls made from it work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.helpers.gateway import NOBODY_KEY, READER_KEY, WRITER_KEY, bearer, in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio
PROBLEM = "application/problem+json"


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    recorder = RecordingUpstream()
    with ThreadedServer(recorder) as server:
        recorder.url = server.url  # type: ignore[attr-defined]
        yield recorder


@pytest.fixture
def config(tmp_path: Path, upstream: RecordingUpstream) -> Path:
    extra = "tools:\n  sleepy: {execution: async}\n"
    return write_config(tmp_path, upstream.url, extra=extra)  # type: ignore[attr-defined]


def tool_operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {
        path.removeprefix("/v1/tools/").removesuffix(":call"): item["post"]
        for path, item in paths.items()
        if path.endswith(":call")
    }


async def test_the_description_is_valid_and_per_principal(config: Path) -> None:
    async with in_process(config) as (client, _):
        reader = (await client.get("/v1/openapi.json", headers=bearer(READER_KEY))).json()
        writer = (await client.get("/v1/openapi.json", headers=bearer(WRITER_KEY))).json()
        nobody = (await client.get("/v1/openapi.json", headers=bearer(NOBODY_KEY))).json()
        listed = (await client.get("/v1/tools", headers=bearer(WRITER_KEY))).json()["tools"]
        anonymous = await client.get("/v1/openapi.json")
        tools_only = (await client.get("/v1/openapi.json?only=tools", headers=bearer(READER_KEY))).json()
        bad = await client.get("/v1/openapi.json?only=jobs", headers=bearer(READER_KEY))
    for document in (reader, writer, nobody, tools_only):
        validate(document)  # raises on any violation of the OpenAPI 3.1 schema
        assert document["openapi"] == "3.1.0"
    assert list(tool_operations(reader)) == ["getItem", "searchItems", "greet", "explode"]
    assert list(tool_operations(writer)) == [t["name"] for t in listed]
    assert tool_operations(nobody) == {}
    assert "/v1/jobs" in nobody["paths"] and "/v1/tools" in nobody["paths"]
    assert set(tools_only["paths"]) == {f"/v1/tools/{name}:call" for name in tool_operations(reader)}
    assert anonymous.status_code == 401
    assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM
    assert reader["servers"] == [{"url": "http://127.0.0.1:8080"}]
    operation_ids = [
        op["operationId"] for item in writer["paths"].values() for op in item.values() if isinstance(op, dict)
    ]
    assert len(operation_ids) == len(set(operation_ids))


async def test_each_operation_carries_the_tools_schemas_and_problems(config: Path) -> None:
    async with in_process(config) as (client, _):
        document = (await client.get("/v1/openapi.json", headers=bearer(WRITER_KEY))).json()
        native = {
            t["name"]: t for t in (await client.get("/v1/tools", headers=bearer(WRITER_KEY))).json()["tools"]
        }
    schemas = document["components"]["schemas"]
    greet = tool_operations(document)["greet"]
    body = greet["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["arguments"] == {"$ref": "#/components/schemas/greet.input"}
    assert body["required"] == ["arguments"]  # greet needs a name
    assert schemas["greet.input"] == native["greet"]["inputSchema"]
    answer = greet["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["properties"]["result"] == {"$ref": "#/components/schemas/greet.output"}
    for status in ("400", "401", "403", "404", "422", "429", "502", "503", "504"):
        assert greet["responses"][status]["content"][PROBLEM]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }
    assert greet["requestBody"]["required"] is True
    assert tool_operations(document)["explode"]["requestBody"]["required"] is False  # no arguments
    # `execution: async` answers a call with its job.
    assert "202" in tool_operations(document)["sleepy"]["responses"]
    assert document["paths"]["/v1/tools/{name}:start"]["post"]["parameters"][0]["schema"]["enum"]
    # A tool's own `#/$defs/...` references now point inside its component, and resolve there.
    for name, schema in schemas.items():
        if name.endswith((".input", ".output")):
            Draft202012Validator.check_schema(schema)
            for ref in _refs(schema):
                assert ref.startswith(f"#/components/schemas/{name}/"), (name, ref)


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_a_call_built_from_the_description_works(config: Path, upstream: RecordingUpstream) -> None:
    async with in_process(config) as (client, _):
        document = (await client.get("/v1/openapi.json", headers=bearer(READER_KEY))).json()
        [path] = [
            p for p, item in document["paths"].items() if item.get("post", {}).get("operationId") == "greet"
        ]
        answer = await client.post(path, json={"arguments": {"name": "Ada"}}, headers=bearer(READER_KEY))
        refused = await client.post(path, json={"arguments": {}}, headers=bearer(READER_KEY))
    assert answer.status_code == 200
    assert answer.json()["result"] == {"text": "Hello, Ada!", "shout": False}
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM


async def test_gemini_declarations_on_the_rest_door(config: Path) -> None:
    from tests.helpers.gemini_rules import declaration_problems

    async with in_process(config) as (client, _):
        tools = (await client.get("/v1/tools?format=gemini", headers=bearer(WRITER_KEY))).json()["tools"]
    assert [p for t in tools for p in declaration_problems(t)] == []
    by_name = {t["name"]: t for t in tools}
    assert by_name["greet"]["parameters"]["required"] == ["name"]
    assert "parameters" not in by_name["explode"]  # no arguments: no parameters


def test_a_tools_own_references_resolve_inside_the_description() -> None:
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    from pasarela.catalog.spec import ToolSpec
    from pasarela.server.openapi import openapi_document

    schema = {
        "type": "object",
        "properties": {"node": {"$ref": "#/$defs/Node"}},
        "required": ["node"],
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"label": {"type": "string"}, "next": {"$ref": "#/$defs/Node"}},
                "required": ["label"],
            }
        },
    }
    tree = ToolSpec(name="walk", description="Walk a tree", input_schema=schema, backend="py", origin="walk")
    document = openapi_document([tree], server_url="http://gw", execution_of=lambda name: "sync")
    validate(document)
    body = document["paths"]["/v1/tools/walk:call"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    registry = Registry().with_resource("urn:doc", DRAFT202012.create_resource(document))
    assert body["properties"]["arguments"]["$ref"] == "#/components/schemas/walk.input"
    good = {"arguments": {"node": {"label": "a", "next": {"label": "b"}}}}
    bad = {"arguments": {"node": {"label": "a", "next": {"label": 1}}}}
    # Resolved from the document root, as an OpenAPI consumer does.
    validator = Draft202012Validator({"$ref": "urn:doc#/components/schemas/walk.input"}, registry=registry)
    assert validator.is_valid(good["arguments"])
    assert not validator.is_valid(bad["arguments"])


async def test_the_twilio_catalog_as_openapi_is_valid() -> None:
    from pasarela.server.openapi import openapi_document
    from tests.conftest import TWILIO_SPECS
    from tests.connectors.openapi_helpers import load

    tools = list((await load(TWILIO_SPECS / "twilio_api_v2010.json")).values())
    document = openapi_document(tools, server_url="https://gw.example", execution_of=lambda name: "sync")
    validate(document)
    assert len([p for p in document["paths"] if p.endswith(":call")]) == 197


async def test_a_description_is_served_again_and_kept_per_host(config: Path) -> None:
    async with in_process(config) as (client, _):
        first = await client.get("/v1/openapi.json", headers=bearer(READER_KEY))
        again = await client.get("/v1/openapi.json", headers=bearer(READER_KEY))
        other_host = await client.get(
            "/v1/openapi.json", headers={**bearer(READER_KEY), "Host": "gw.example"}
        )
    assert first.content == again.content
    assert other_host.json()["servers"] == [{"url": "http://gw.example"}]
