"""The GraphQL connector against a real GraphQL server: introspection and SDL, generated
tools and declared operations, mutations, errors and partial data, through the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pasarela.errors import ConfigError
from tests.connectors import graphql_server
from tests.helpers.gateway import READER_KEY, WRITER_KEY, bearer, gateway_for
from tests.helpers.servers import ThreadedServer

pytestmark = pytest.mark.anyio

TOKEN = "loans-token-0000000001"


@pytest.fixture
def endpoint() -> Iterator[str]:
    graphql_server.SEEN.clear()
    with ThreadedServer(graphql_server.app()) as server:
        yield f"{server.url}/graphql"


def backend(url: str, extra: str = "") -> str:
    auth = "" if "    auth:" in extra else f'    auth: {{bearer: "{TOKEN}"}}\n'  # `extra` may bring its own
    return f"""\
  loans:
    graphql: {url}
{auth}{extra}"""


ACCESS = "access:\n  reader: ['*']\n  writer: ['*']\n"


async def call(
    client: httpx.AsyncClient, tool: str, arguments: dict[str, object], key: str = READER_KEY
) -> httpx.Response:
    return await client.post(f"/v1/tools/{tool}:call", json={"arguments": arguments}, headers=bearer(key))


@pytest.mark.parametrize("source", ["introspection", "sdl"])
async def test_root_fields_become_tools(tmp_path: Path, endpoint: str, source: str) -> None:
    extra = ""
    if source == "sdl":
        (tmp_path / "loans.graphql").write_text(graphql_server.SDL)
        extra = "    schema: loans.graphql\n"
    async with gateway_for(
        tmp_path, "http://127.0.0.1:1", backends=backend(endpoint, extra), extra=ACCESS
    ) as (client, runtime):
        catalog = runtime.gateway.catalog
        loans = catalog.get("loans")
        assert loans.description == "The loans of one customer"
        assert loans.input_schema["required"] == ["customerId"]
        assert loans.input_schema["properties"]["status"] == {
            "type": "string",
            "enum": ["CURRENT", "LATE", "DEFAULTED"],
        }
        assert loans.annotations.read_only
        open_loan = catalog.get("openLoan")
        assert not open_loan.annotations.read_only and not open_loan.annotations.idempotent
        assert open_loan.input_schema["properties"]["input"]["required"] == ["customerId", "amount"]

        answer = await call(client, "loans", {"customerId": "12345", "status": "LATE"})
        assert answer.status_code == 200, answer.text
        assert [loan["id"] for loan in answer.json()["result"]] == ["L-2"]
        first = (await call(client, "loans", {"customerId": "12345"})).json()["result"][0]
        assert first["officer"] == {"name": "Ana"}  # depth 2: the loan and one level of objects below
        assert "schedule" in first and first["schedule"][0]["paid"] is False
        assert (await call(client, "rate", {})).json()["result"] == 3.25
        # Arguments travel as variables, never inside the document; the gateway's credential goes along.
        seen = graphql_server.SEEN[-1]
        assert seen["authorization"] == f"Bearer {TOKEN}"
        assert "12345" not in seen["body"]["query"]


async def test_a_mutation(tmp_path: Path, endpoint: str) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:1", backends=backend(endpoint), extra=ACCESS) as (
        client,
        _,
    ):
        opened = await call(client, "openLoan", {"input": {"customerId": "777", "amount": 2500}}, WRITER_KEY)
        assert opened.status_code == 200, opened.text
        assert (
            opened.json()["result"]["customerId"] == "777" and opened.json()["result"]["status"] == "CURRENT"
        )
        assert (await call(client, "openLoan", {"input": {"amount": 1}}, WRITER_KEY)).status_code == 422


async def test_errors_and_partial_data(tmp_path: Path, endpoint: str) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:1", backends=backend(endpoint), extra=ACCESS) as (
        client,
        _,
    ):
        broken = await call(client, "broken", {})
        assert broken.status_code == 502
        assert broken.json()["graphql_errors"] == ["the loan system is down"]
        assert broken.json()["detail"].startswith("the loan system is down (")
        partial = await call(client, "partial", {"id": "L-9"})
        assert partial.status_code == 200
        body = partial.json()
        assert body["result"]["id"] == "L-9" and body["result"]["officer"] is None
        assert body["meta"]["partial"] is True
        assert body["meta"]["graphql_errors"] == ["officer service unavailable"]


async def test_declared_operations(tmp_path: Path, endpoint: str) -> None:
    extra = """\
    generate: false
    operations:
      loan_overview:
        description: A customer's loans and whether they are in good standing
        document: |
          query Overview($customerId: ID!) {
            loans(customerId: $customerId) { id amount status }
            rate
          }
"""
    async with gateway_for(
        tmp_path, "http://127.0.0.1:1", backends=backend(endpoint, extra), extra=ACCESS
    ) as (client, runtime):
        assert [t.name for t in runtime.gateway.catalog if t.backend == "loans"] == ["loan_overview"]
        answer = (await call(client, "loan_overview", {"customerId": "12345"})).json()
        assert answer["result"]["rate"] == 3.25
        assert {loan["status"] for loan in answer["result"]["loans"]} == {"CURRENT", "LATE"}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    operations:\n      bad: {document: 'query { nope }'}\n",
            r"operations\.bad: document: Cannot query field 'nope'",
        ),
        ("    operations:\n      bad: {document: 'query {'}\n", r"operations\.bad: document: Syntax Error"),
        ("    schema: missing.graphql\n", r"backends\.loans\.schema: cannot read"),
        (
            '    auth: {bearer: "refused-token"}\n',
            r"backends\.loans\.graphql: introspection failed: unauthorized \(check the backend's auth",
        ),
    ],
)
async def test_bad_graphql_settings_are_config_errors(
    tmp_path: Path, endpoint: str, extra: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        async with gateway_for(tmp_path, "http://127.0.0.1:1", backends=backend(endpoint, extra)):
            pass


async def test_an_unreachable_endpoint_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"backends\.loans\.graphql: introspection failed: cannot reach loans"
    ):
        async with gateway_for(
            tmp_path, "http://127.0.0.1:1", backends=backend("http://127.0.0.1:1/graphql")
        ):
            pass
