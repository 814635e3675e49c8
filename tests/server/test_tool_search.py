"""Discovery mode on the REST door (tool_search:): the agent is shown search_tools, call_tool
and the always-visible tools; search ranks only what it may call; call_tool is the named
tool's own call through the whole pipeline — policy, validation, audit under its real name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from pasarela.audit import search
from pasarela.config import load_config
from pasarela.errors import ConfigError
from pasarela.state import open_state
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, bearer, in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio
PROBLEM = "application/problem+json"
SEARCHING = "tool_search: {roles: [reader], always_visible: [greet], default_limit: 3}\n"


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with ThreadedServer(RecordingUpstream()) as upstream:
        yield upstream.url


@pytest.fixture
def config(tmp_path: Path, upstream_url: str) -> Path:
    return write_config(
        tmp_path, upstream_url, extra=f"state: sqlite:///{tmp_path / 'state.db'}\n" + SEARCHING
    )


async def call(client: Any, tool: str, arguments: dict[str, Any], key: str = READER_KEY) -> Any:
    return await client.post(f"/v1/tools/{tool}:call", json={"arguments": arguments}, headers=bearer(key))


async def test_the_list_shows_search_call_and_the_always_visible(config: Path) -> None:
    async with in_process(config) as (client, _):
        searching = (await client.get("/v1/tools", headers=bearer(READER_KEY))).json()["tools"]
        openai = (await client.get("/v1/tools?format=openai", headers=bearer(READER_KEY))).json()["tools"]
        everything = (await client.get("/v1/tools", headers=bearer(WRITER_KEY))).json()["tools"]
        document = (await client.get("/v1/openapi.json", headers=bearer(READER_KEY))).json()
    assert [t["name"] for t in searching] == ["search_tools", "call_tool", "greet"]
    assert searching[0]["inputSchema"]["required"] == ["query"]
    assert searching[0]["annotations"]["readOnlyHint"] is True
    assert [t["function"]["name"] for t in openai] == ["search_tools", "call_tool", "greet"]
    assert len(everything) == 16  # the writer is not in discovery mode
    validate(document)
    calls = sorted(p for p in document["paths"] if p.endswith(":call"))
    assert calls == ["/v1/tools/call_tool:call", "/v1/tools/greet:call", "/v1/tools/search_tools:call"]
    start = document["paths"]["/v1/tools/{name}:start"]["post"]["parameters"][0]["schema"]
    assert start["enum"] == ["greet"]  # the meta-tools never run as jobs


async def test_search_ranks_only_what_the_caller_may_call(config: Path) -> None:
    async with in_process(config) as (client, _):
        found = await call(client, "search_tools", {"query": "get one item by its id"})
        hidden = await call(client, "search_tools", {"query": "delete an item", "limit": 10})
        nothing = await call(client, "search_tools", {"query": "zebra quantum"})
        writer = await call(client, "search_tools", {"query": "delete an item"}, key=WRITER_KEY)
    assert found.status_code == 200
    body = found.json()
    assert body["result"]["tools"][0]["name"] == "getItem"
    assert body["result"]["tools"][0]["inputSchema"]["required"] == ["item_id"]  # with its schema
    assert len(body["result"]["tools"]) <= 3  # default_limit
    # deleteItem is the writer's: the reader's search never reveals it.
    assert "deleteItem" not in [t["name"] for t in hidden.json()["result"]["tools"]]
    assert nothing.json()["result"] == {"tools": [], "count": 0}
    assert writer.status_code == 404  # not in discovery mode: no such tool


@pytest.mark.parametrize(
    ("arguments", "path"),
    [
        ({}, "/query"),
        ({"query": "  "}, "/query"),
        ({"query": "x" * 1001}, "/query"),
        ({"query": "item", "limit": 0}, "/limit"),
        ({"query": "item", "limit": 21}, "/limit"),
        ({"query": "item", "limit": True}, "/limit"),
        ({"query": "item", "extra": 1}, ""),
    ],
)
async def test_bad_searches_are_422_naming_the_argument(
    config: Path, arguments: dict[str, Any], path: str
) -> None:
    async with in_process(config) as (client, _):
        response = await call(client, "search_tools", arguments)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert [e["path"] for e in response.json()["errors"]] == [path]


async def test_call_tool_goes_through_the_whole_pipeline_as_the_named_tool(config: Path) -> None:
    async with in_process(config) as (client, _):
        done = await call(client, "call_tool", {"name": "getItem", "arguments": {"item_id": "7"}})
        denied = await call(client, "call_tool", {"name": "deleteItem", "arguments": {"item_id": "7"}})
        invalid = await call(client, "call_tool", {"name": "greet", "arguments": {"name": 42}})
        unknown = await call(client, "call_tool", {"name": "noSuchTool"})
        nested = await call(client, "call_tool", {"name": "call_tool", "arguments": {}})
        malformed = await call(client, "call_tool", {"name": "getItem", "arguments": [1]})
    assert done.status_code == 200
    assert done.json()["result"]["path"] == "/items/7"
    assert done.json()["meta"]["tool"] == "getItem"
    assert denied.status_code == 403
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["path"] == "/name"
    assert unknown.status_code == 404
    assert nested.status_code == 422 and malformed.status_code == 422
    # The audit trail names the real tools, and the denial too.
    loaded = load_config(config, environ=ENV)
    store = await open_state(loaded.settings.state, loaded.base_dir)
    try:
        records = await search(store, principal="reader", limit=100)
    finally:
        await store.aclose()
    audited = [(r["tool"], r["outcome"]) for r in records]
    assert ("getItem", "ok") in audited
    assert ("deleteItem", "denied") in audited
    assert ("greet", "invalid_arguments") in audited
    assert not any(tool in ("call_tool", "search_tools") for tool, _ in audited)


@pytest.mark.parametrize(
    ("extra", "backends", "message"),
    [
        ("tool_search: {roles: [reader], always_visible: [nope]}\n", "", "tool_search.always_visible[0]"),
        ("tool_search: {roles: [reader], default_limit: 9, max_limit: 5}\n", "", "default_limit (9) exceeds"),
        (
            "tool_search: {principals: [reader]}\n",
            "  other:\n    python: tests.connectors.sample_tools\n    tools: {include: [greet], rename: {greet: search_tools}}\n",
            "which discovery mode uses",
        ),
    ],
)
def test_configuration_mistakes_are_named(
    tmp_path: Path, upstream_url: str, extra: str, backends: str, message: str
) -> None:
    import anyio

    from pasarela.assembly import build_runtime

    config = write_config(tmp_path, upstream_url, extra=extra, backends=backends)

    async def build() -> None:
        runtime = await build_runtime(load_config(config, environ=ENV), read_only=True)
        await runtime.aclose()

    with pytest.raises(ConfigError) as caught:
        anyio.run(build)
    assert message in str(caught.value)
