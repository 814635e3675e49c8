"""Importing descriptions of every dialect: names, merged schemas, refs and recursion."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from starlette.types import Receive, Scope, Send

from pasarela.catalog.selection import select_tools
from pasarela.errors import ConfigError
from tests.conftest import FIXTURES
from tests.connectors.openapi_helpers import connector, load
from tests.helpers.servers import ThreadedServer

pytestmark = pytest.mark.anyio
SPECS = FIXTURES / "openapi"


async def test_parameters_and_body_merge_without_clashes() -> None:
    tools = await load(SPECS / "items.yaml")
    update = tools["updateItem"].input_schema
    assert set(update["properties"]) == {"item_id", "body_item_id", "name"}
    assert update["required"] == ["item_id", "name"]
    assert update["additionalProperties"] is False
    search = tools["searchItems"].input_schema["properties"]
    assert set(search) == {"tag", "limit", "created_lt", "X-Trace"}, "Authorization may never be an argument"
    assert search["X-Trace"]["pattern"] == r"^[^\x00-\x08\x0a-\x1f\x7f]*$"


async def test_operations_without_operation_id_get_unique_names() -> None:
    tools = await load(SPECS / "items.yaml")
    assert {"get_no-operation-id_thing", "post_no-operation-id_thing"} <= set(tools)


async def test_annotations_follow_the_method() -> None:
    tools = await load(SPECS / "items.yaml")
    assert tools["getItem"].annotations.read_only and tools["getItem"].annotations.idempotent
    assert tools["deleteItem"].annotations.destructive and tools["deleteItem"].annotations.idempotent
    assert not tools["createItem"].annotations.idempotent


async def test_recursive_schemas_terminate_and_stay_valid() -> None:
    tools = await load(SPECS / "items.yaml")
    create = tools["createItem"].input_schema
    assert create["properties"]["children"]["items"] == {"$ref": "#/$defs/NewItem"}
    assert "NewItem" in create["$defs"]
    Draft202012Validator.check_schema(create)
    validator = Draft202012Validator(create)
    assert validator.is_valid({"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]})
    assert not validator.is_valid({"name": "a", "children": [{"name": ""}]})
    output = tools["getItem"].output_schema
    assert output is not None and output["$defs"]["Item"]["properties"]["parent"] == {"$ref": "#/$defs/Item"}
    assert output["$defs"]["Item"]["properties"]["name"]["type"] == ["string", "null"]


async def test_mutually_recursive_schemas_in_openapi_31() -> None:
    tools = await load(SPECS / "openapi31.yaml")
    graph = next(
        t for t in tools.values() if "$defs" in t.input_schema and "edges" in t.input_schema["properties"]
    )
    assert set(graph.input_schema["$defs"]) == {"GraphNode", "Edge"}
    Draft202012Validator.check_schema(graph.input_schema)


async def test_openapi_31_names_and_server_variables() -> None:
    c = connector(SPECS / "openapi31.yaml")
    tools = {t.name: t for t in await c.load()}
    await c.aclose()
    assert "get_tree_by_id" in tools
    long_names = [n for n in tools if n.startswith("ThisOperationIdIsFarTooLong")]
    assert len(long_names) == 2 and all(len(n) == 64 for n in long_names)
    assert c._base_url == "https://eu.modern.example.test/v1"
    tree = tools["get_tree_by_id"]
    assert tree.output_schema is not None and tree.output_schema["description"] == "a tree"


async def test_swagger_2() -> None:
    c = connector(SPECS / "swagger2.yaml")
    tools = {t.name: t for t in await c.load()}
    await c.aclose()
    assert c._base_url == "https://legacy.example.test/api"
    create = tools["createAccount"].input_schema
    assert set(create["properties"]) == {"id", "owner", "balance", "sub_accounts"}
    assert create["required"] == ["owner"]
    account = tools["getAccount"].output_schema
    assert account is not None
    balance = account["$defs"]["Account"]["properties"]["balance"]
    assert balance == {"type": "number", "exclusiveMinimum": 0}
    assert account["$defs"]["Account"]["properties"]["owner"]["type"] == ["string", "null"]
    upload = tools["uploadNote"].input_schema
    assert upload["properties"]["pinned"] == {"type": "boolean"} and upload["required"] == ["note"]
    for tool in tools.values():
        Draft202012Validator.check_schema(tool.input_schema)


async def test_description_from_a_url() -> None:
    text = (SPECS / "items.yaml").read_text()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/yaml")]}
        )
        await send({"type": "http.response.body", "body": text.encode()})

    with ThreadedServer(app) as server:
        tools = await load(f"{server.url}/spec.yaml")
    assert "getItem" in tools


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not: [valid", "neither valid JSON nor YAML"),
        ("just: a mapping\n", "is not a Swagger 2.0 or OpenAPI 3.x description"),
        ("- a list\n", "expected a mapping"),
    ],
)
async def test_broken_descriptions_are_config_errors(tmp_path: Path, content: str, expected: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(content)
    with pytest.raises(ConfigError, match=expected) as caught:
        await load(spec)
    assert caught.value.problems[0].path == "backends.test.openapi"


async def test_missing_base_url_is_explained(tmp_path: Path) -> None:
    data = yaml.safe_load((SPECS / "items.yaml").read_text())
    del data["servers"]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="base_url: required"):
        await load(spec)


async def test_include_exclude_rename_by_operation_and_tag() -> None:
    tools = list((await load(SPECS / "items.yaml")).values())
    chosen, problems = select_tools(
        tools,
        include=["read", "createItem"],
        exclude=["searchItems"],
        rename={"getItem": "get_item"},
        source="x",
        key_path="backends.t.tools",
    )
    assert problems == []
    assert sorted(t.name for t in chosen) == ["createItem", "get_item"]
    assert next(t for t in chosen if t.name == "get_item").origin == "getItem"
    _, problems = select_tools(
        tools, include=["nope"], exclude=[], rename={"ghost": "x"}, source="x", key_path="k"
    )
    assert [p.path for p in problems] == ["k.include[0]", "k.rename.ghost"]


async def test_800_operations_import_quickly(tmp_path: Path) -> None:
    base = yaml.safe_load((SPECS / "items.yaml").read_text())
    paths = {}
    for i in range(100):
        for path, item in base["paths"].items():
            clone = copy.deepcopy(item)
            for method in ("get", "put", "post", "delete"):
                if method in clone and "operationId" in clone[method]:
                    clone[method]["operationId"] += str(i)
            paths[f"/v{i}{path}"] = clone
    base["paths"] = paths
    spec = tmp_path / "big.yaml"
    spec.write_text(yaml.safe_dump(base))
    started = time.perf_counter()
    tools = await load(spec)
    print(f"{len(tools)} operations imported in {(time.perf_counter() - started) * 1000:.0f} ms")
    assert len(tools) >= 800
