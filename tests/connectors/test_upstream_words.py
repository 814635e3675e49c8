"""Upstream errors in the upstream's words: the message a model can act on leads the problem's
`detail`, secrets masked; the problem's fields stay for programs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pasarela.connectors.upstream_words import in_their_words, said_in
from pasarela.secrets import Redactor
from tests.helpers.asking_gateway import UPSTREAM_TOKEN, AskingGateway, asking_gateway
from tests.helpers.gateway import READER_KEY, bearer, gateway_for
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            {"type": "about:blank", "title": "Not Found", "detail": "Item 7 does not exist"},
            "Item 7 does not exist",
        ),
        ({"title": "Not Found"}, "Not Found"),
        ({"message": "Invalid API usage"}, "Invalid API usage"),
        ({"error": {"code": 404, "message": "No such customer"}}, "No such customer"),
        ({"error": "invalid_grant", "error_description": "Code expired"}, "Code expired"),
        (
            {"errors": [{"message": "name is required"}, {"message": "age is required"}]},
            "name is required (and 1 more)",
        ),
        ({"errors": ["out of stock"]}, "out of stock"),
        ({"code": 17, "status": "bad"}, None),
        ([1, 2], None),
        ({"message": "   "}, None),
    ],
)
def test_the_message_is_found_where_apis_keep_it(body: Any, said: str | None) -> None:
    assert said_in(body) == said


def test_the_message_leads_masked_and_cut_short() -> None:
    redactor = Redactor(["s3cr3t-value-0001"])
    detail = in_their_words("denied for s3cr3t-value-0001 " + "x" * 1000, "crm answered HTTP 403", redactor)
    assert detail.startswith("denied for ***")
    assert detail.endswith(" (crm answered HTTP 403)")
    assert len(detail) < 600
    assert in_their_words(None, "crm answered HTTP 500", redactor) == "crm answered HTTP 500"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AskingGateway]:
    with asking_gateway(tmp_path_factory.mktemp("upstream-words")) as running:
        yield running


@pytest.mark.e2e
@pytest.mark.parametrize("tool", ["asking_lookup_product", "modern_lookup_product"])
async def test_a_federated_tools_error_reaches_the_model_in_its_words(
    gateway: AskingGateway, tool: str
) -> None:
    async with mcp_http_client(gateway.mcp_url, "writer-key-0000002", mode="legacy") as client:
        result = await client.call_tool(tool, {"product_id": "P-42"})
    assert result.is_error
    problem = json.loads(result.content[0].text)  # type: ignore[union-attr]
    backend = tool.split("_", maxsplit=1)[0].replace("modern", "asking_modern")
    # The SDK server prefixes the tool's own words; they lead, masked, before the gateway's.
    said = "Error executing tool lookup_product: Error: Product P-42 not found (auth: ***)"
    assert problem["detail"].startswith(said), problem
    assert problem["detail"].endswith(f"({backend} reported an error from lookup_product)")
    assert UPSTREAM_TOKEN not in result.content[0].text  # type: ignore[union-attr]
    assert (problem["code"], problem["backend"]) == ("upstream_error", backend)
    assert "Product P-42 not found" in problem["upstream_body"]


def problem_reply(seen: Seen) -> Reply:
    shapes: dict[str, Reply] = {
        "/items/gone": Reply(
            404,
            b'{"type": "about:blank", "title": "Not Found", "detail": "Item gone was archived in 2024"}',
            {"content-type": "application/problem+json"},
        ),
        "/items/odd": Reply(422, {"error": {"message": "Item ids are upper case"}}),
        "/items/html": Reply(
            500, b"<html><body>Internal Server Error</body></html>", {"content-type": "text/html"}
        ),
    }
    return shapes.get(seen.raw_path, Reply(200, {"id": "x"}))


@pytest.fixture(scope="module")
def items() -> Iterator[str]:
    with ThreadedServer(RecordingUpstream(problem_reply)) as server:
        yield server.url


@pytest.mark.parametrize(
    ("item", "detail"),
    [
        ("gone", "Item gone was archived in 2024 (items answered HTTP 404 to getItem)"),
        ("odd", "Item ids are upper case (items answered HTTP 422 to getItem)"),
        ("html", "items answered HTTP 500 to getItem"),  # a page, not a message: nothing to quote
    ],
)
async def test_an_http_backends_problem_document_leads_with_its_detail(
    tmp_path: Path, items: str, item: str, detail: str
) -> None:
    async with gateway_for(tmp_path, items, items="    retry: {attempts: 1}\n") as (client, _):
        answer = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": item}}, headers=bearer(READER_KEY)
        )
    problem = answer.json()
    assert problem["detail"] == detail
    assert problem["upstream_status"] == answer.json()["upstream_status"]
    assert "upstream_body" in problem
