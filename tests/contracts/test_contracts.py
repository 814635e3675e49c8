"""Transforms and the schema registry: the seed's mapping example, and a broken contract."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from pasarela.assembly import Runtime
from pasarela.audit import search
from pasarela.catalog.formats import render
from pasarela.errors import ConfigError
from tests.helpers.faults import Answer, FaultyUpstream
from tests.helpers.gateway import READER_KEY, bearer, gateway_for

pytestmark = pytest.mark.anyio

SALESFORCE_STYLE = {"Id": "0035e00000XyZ", "FirstName": "John", "LastName": "Doe", "Email": "j@example.com"}
CUSTOMER_V2 = """\
schemas:
  customer@2:
    type: object
    required: [customer_id, name]
    additionalProperties: false
    properties:
      customer_id: {type: string}
      name:
        type: object
        required: [first, last]
        properties: {first: {type: string}, last: {type: string}}
"""
SEED_MAPPING = (
    "tools:\n  getItem:\n    transform: '{customer_id: Id, name: {first: FirstName, last: LastName}}'\n"
)


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream(Answer(200, SALESFORCE_STYLE)) as server:
        yield server


def gateway(
    tmp_path: Path, upstream: FaultyUpstream, extra: str
) -> AbstractAsyncContextManager[tuple[httpx.AsyncClient, Runtime]]:
    return gateway_for(tmp_path, upstream.url, extra=extra)


async def get_item(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
    )


async def test_the_seed_mapping_reshapes_a_salesforce_style_record(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    async with gateway(tmp_path, upstream, SEED_MAPPING) as (client, runtime):
        response = await get_item(client)
        assert response.status_code == 200
        assert response.json()["result"] == {
            "customer_id": "0035e00000XyZ",
            "name": {"first": "John", "last": "Doe"},
        }
        # The backend's own output schema no longer describes the result, so none is advertised.
        assert runtime.gateway.catalog.get("getItem").output_schema is None


async def test_a_declared_output_is_validated_and_advertised(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    extra = CUSTOMER_V2 + SEED_MAPPING + "    output: customer@2\n"
    async with gateway(tmp_path, upstream, extra) as (client, runtime):
        response = await get_item(client)
        assert response.status_code == 200, response.text
        assert response.json()["meta"]["schema"] == "customer@2"
        [listed] = [t for t in render(runtime.gateway.catalog, "mcp") if t["name"] == "getItem"]
        assert listed["outputSchema"]["required"] == ["customer_id", "name"]
        [other] = [t for t in render(runtime.gateway.catalog, "mcp") if t["name"] == "searchItems"]
        assert "outputSchema" not in other  # unvalidated backend schemas are not promised


async def test_a_result_breaking_its_contract_is_an_upstream_contract_error(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    upstream.default = Answer(200, {"Id": 42, "FirstName": "John"})  # Id not a string, LastName missing
    extra = CUSTOMER_V2 + SEED_MAPPING + "    output: customer@2\n"
    async with gateway(tmp_path, upstream, extra) as (client, runtime):
        response = await get_item(client)
        assert response.status_code == 502
        problem = response.json()
        assert problem["type"] == "urn:pasarela:problem:upstream_contract"
        assert problem["schema"] == "customer@2"
        paths = {e["path"] for e in problem["errors"]}
        assert paths == {"/customer_id", "/name/last"}
        assert "John" not in response.text  # the offending data is not echoed
        violations = runtime.metrics.registry.get_sample_value(
            "pasarela_contract_violations_total",
            {"backend": "items", "tool": "getItem", "schema": "customer@2"},
        )
        assert violations == 1


async def test_a_transform_that_cannot_read_the_answer_is_an_audited_contract_error(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    upstream.default = Answer(200, {"Id": "x", "Score": "not a number"})
    extra = "tools:\n  getItem: {transform: '{score: abs(Score)}'}\n"
    async with gateway_for(tmp_path, upstream.url, extra=extra, audit=True) as (client, runtime):
        response = await get_item(client)
        assert response.status_code == 502, response.text
        assert response.json()["type"] == "urn:pasarela:problem:upstream_contract"
        assert "transform cannot read" in response.json()["detail"]
        assert runtime.audit is not None
        await runtime.audit.flush()
        records = await search(runtime.state)
    assert [(r["tool"], r["outcome"]) for r in records] == [("getItem", "upstream_contract")]


async def test_schemas_may_live_in_files(tmp_path: Path, upstream: FaultyUpstream) -> None:
    (tmp_path / "customer-1.json").write_text('{"type": "object", "required": ["customer_id"]}')
    extra = "schemas:\n  customer@1: {file: customer-1.json}\n" + SEED_MAPPING + "    output: customer@1\n"
    async with gateway(tmp_path, upstream, extra) as (client, _):
        assert (await get_item(client)).json()["meta"]["schema"] == "customer@1"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "tools:\n  getItem: {transform: '{a: '}\n",
            r"tools\.getItem\.transform: not a valid JMESPath expression",
        ),
        ("tools:\n  getItem: {output: customer@9}\n", r"tools\.getItem\.output: no schema 'customer@9'"),
        (
            "schemas:\n  ids@1: {type: array}\ntools:\n  getItem: {output: ids@1}\n",
            r"ids@1 must describe an object",
        ),
        ("schemas:\n  bad@1: {type: 12}\n", r"schemas\.bad@1: not a valid JSON Schema"),
        ("schemas:\n  gone@1: {file: nowhere.json}\n", r"schemas\.gone@1: cannot read .*nowhere\.json"),
        ("schemas:\n  customer: {type: object}\n", r"schemas\.customer"),
        (
            "tools:\n  getItem:\n    arguments: {rename: {customer_id: id}}\n",
            r"tools\.getItem\.arguments\.rename\.customer_id: getItem has no argument 'id' to rename "
            r"\(its arguments: item_id\)",
        ),
        (
            "tools:\n  searchItems:\n    arguments: {fixed: {limit: 0}}\n",
            r"tools\.searchItems\.arguments\.fixed\.limit: 0 is not accepted: 0 is less than the minimum of 1",
        ),
        (
            "tools:\n  searchItems:\n    arguments: {rename: {tag: limit}}\n",
            r"searchItems already has an argument 'tag'",
        ),
        (
            "tools:\n  searchItems:\n    arguments: {rename: {max: limit}, fixed: {limit: 5}}\n",
            r"'limit' is also fixed",
        ),
        (
            "tools:\n  getItem:\n    arguments: {rename: {customer_id: item_id}, fix: {}}\n",
            r"tools\.getItem\.arguments\.fix",
        ),
    ],
)
async def test_bad_contracts_are_config_errors(
    tmp_path: Path, upstream: FaultyUpstream, extra: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        async with gateway(tmp_path, upstream, extra):
            pass


CUSTOMER_V1 = """\
  customer@1:
    type: object
    required: [id, full_name]
    properties: {id: {type: string}, full_name: {type: string}}
"""
SIDE_BY_SIDE = (
    CUSTOMER_V2
    + CUSTOMER_V1
    + """\
tools:
  get_customer_v1:
    from: getItem
    transform: "{id: Id, full_name: join(' ', [FirstName, LastName])}"
    output: customer@1
  get_customer_v2:
    from: getItem
    description: A customer, in the customer@2 shape
    transform: '{customer_id: Id, name: {first: FirstName, last: LastName}}'
    output: customer@2
access:
  reader: [getItem, get_customer_v1, get_customer_v2]
"""
)


async def test_two_versions_are_served_side_by_side(tmp_path: Path, upstream: FaultyUpstream) -> None:
    async with gateway(tmp_path, upstream, SIDE_BY_SIDE) as (client, runtime):
        v1 = await client.post(
            "/v1/tools/get_customer_v1:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
        )
        v2 = await client.post(
            "/v1/tools/get_customer_v2:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
        )
        assert v1.json()["result"] == {"id": "0035e00000XyZ", "full_name": "John Doe"}
        assert v1.json()["meta"]["schema"] == "customer@1"
        assert v2.json()["result"]["name"] == {"first": "John", "last": "Doe"}
        assert upstream.requests == [("GET", "/items/1"), ("GET", "/items/1")]  # the same operation
        catalog = runtime.gateway.catalog
        assert catalog.get("get_customer_v2").description == "A customer, in the customer@2 shape"
        assert catalog.get("get_customer_v1").output_contract == "customer@1"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("tools:\n  v2: {from: nope}\n", r"tools\.v2\.from: no tool named 'nope'"),
        (
            "tools:\n  searchItems: {from: getItem}\n",
            r"tools\.searchItems\.from: 'searchItems' is already a tool",
        ),
        ("tools:\n  a: {from: getItem}\n  b: {from: a}\n", r"tools\.b\.from: 'a' is itself derived"),
    ],
)
async def test_bad_derived_tools_are_config_errors(
    tmp_path: Path, upstream: FaultyUpstream, extra: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        async with gateway(tmp_path, upstream, extra):
            pass


ARGUMENT_MAP = """\
tools:
  getItem:
    arguments: {rename: {customer_id: item_id}}
  find_public_items:
    from: searchItems
    arguments:
      rename: {max_results: limit}
      fixed: {tag: [public]}
access:
  reader: [getItem, find_public_items]
"""


async def test_arguments_are_mapped_to_the_backends_names(tmp_path: Path, upstream: FaultyUpstream) -> None:
    async with gateway(tmp_path, upstream, ARGUMENT_MAP) as (client, runtime):
        catalog = runtime.gateway.catalog
        assert list(catalog.get("getItem").input_schema["properties"]) == ["customer_id"]
        assert catalog.get("getItem").input_schema["required"] == ["customer_id"]
        found = catalog.get("find_public_items").input_schema["properties"]
        assert "max_results" in found and "limit" not in found and "tag" not in found
        assert found["max_results"]["maximum"] == 100  # the backend's constraints travel with the name

        answer = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"customer_id": "7"}}, headers=bearer(READER_KEY)
        )
        assert answer.status_code == 200, answer.text
        assert upstream.requests[-1] == ("GET", "/items/7")
        answer = await client.post(
            "/v1/tools/find_public_items:call",
            json={"arguments": {"max_results": 5}},
            headers=bearer(READER_KEY),
        )
        assert answer.status_code == 200, answer.text
        _method, target = upstream.requests[-1]
        assert target.startswith("/items?") and "tag=public" in target and "limit=5" in target

        # The backend's names and the fixed argument are not the agent's to use.
        for arguments in ({"limit": 5}, {"max_results": 500}, {"max_results": 5, "tag": ["secret"]}):
            refused = await client.post(
                "/v1/tools/find_public_items:call", json={"arguments": arguments}, headers=bearer(READER_KEY)
            )
            assert refused.status_code == 422, (arguments, refused.text)
        assert len(upstream.requests) == 2
