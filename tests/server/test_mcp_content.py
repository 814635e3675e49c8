"""MCP resources, resource templates, prompts and completions — declared and federated from a
real upstream MCP server — with the official client against a running gateway, in both
protocol eras."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import MCPError
from mcp_types import PromptReference, ResourceTemplateReference, TextContent, TextResourceContents
from sqlalchemy import select

from pasarela.state.tables import audit_records
from tests.helpers.content_gateway import running_gateway
from tests.helpers.content_upstream import SECRET, upstream_app
from tests.helpers.gateway import NOBODY_KEY, READER_KEY, WRITER_KEY
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.servers import ThreadedServer
from tests.server.content_config import ENV, MANY, content_config

pytestmark = pytest.mark.anyio
MODES = ["auto", "legacy"]


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with ThreadedServer(upstream_app(), lifespan=True) as server:
        yield f"{server.url}/mcp"


@pytest.fixture
async def gateway(tmp_path: Path, upstream_url: str) -> AsyncIterator[str]:
    async with running_gateway(content_config(tmp_path, upstream_url), ENV) as (url, _):
        yield f"{url}/mcp"


def text_of(contents: object) -> str:
    assert isinstance(contents, TextResourceContents)
    return contents.text


@pytest.mark.parametrize("mode", MODES)
async def test_a_permitted_reader_lists_and_reads_declared_and_federated_resources(
    gateway: str, mode: str
) -> None:
    async with mcp_http_client(gateway, READER_KEY, mode=mode) as client:
        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        templates = {
            t.name: t.uri_template for t in (await client.list_resource_templates()).resource_templates
        }
        faq = await client.read_resource("pasarela://docs/faq")
        guide = await client.read_resource("pasarela://docs/guide")
        handbook = await client.read_resource("docs://handbook")
        greeting = await client.read_resource("pasarela://greetings/Ada")
        hours = await client.read_resource("docs://branches/EU/hours")
    assert uris == ["pasarela://docs/faq", "pasarela://docs/guide", "docs://handbook"]
    assert templates == {
        "greeting_of": "pasarela://greetings/{name}",
        "up_branch_hours": "docs://branches/{region}/hours",
    }
    assert text_of(faq.contents[0]).startswith("Opening hours: 9-17. Never share ")
    assert SECRET not in text_of(faq.contents[0])  # a known secret is masked wherever it appears
    assert text_of(guide.contents[0]) == "# Guide\nAsk before you act.\n"
    assert guide.contents[0].mime_type == "text/markdown"
    assert "Be kind." in text_of(handbook.contents[0])
    assert SECRET not in text_of(handbook.contents[0])
    # A template whose content is a read-only tool, called through the whole pipeline.
    assert json.loads(text_of(greeting.contents[0]))["text"] == "Hello, Ada!"
    assert text_of(hours.contents[0]) == "EU: 9-17"


@pytest.mark.parametrize("mode", MODES)
async def test_what_a_principal_may_not_read_is_neither_listed_nor_readable(gateway: str, mode: str) -> None:
    async with mcp_http_client(gateway, NOBODY_KEY, mode=mode) as client:
        assert (await client.list_resources()).resources == []
        assert (await client.list_resource_templates()).resource_templates == []
        assert (await client.list_prompts()).prompts == []
        for uri in (
            "pasarela://docs/faq",
            "docs://handbook",
            "pasarela://greetings/Ada",
            "pasarela://nothing",
        ):
            with pytest.raises(MCPError) as refused:
                await client.read_resource(uri)
            # Denied and unknown read the same: nothing tells the caller what exists.
            assert refused.value.code == -32602
            assert refused.value.error.message == f"Resource not found: {uri}"
        with pytest.raises(MCPError) as refused:
            await client.get_prompt("summarize", {"customer_id": "1"})
        assert refused.value.error.message == "Unknown prompt: summarize"


async def test_a_forbid_hides_one_resource_from_the_reader_and_a_permit_shows_it_to_the_writer(
    gateway: str,
) -> None:
    async with mcp_http_client(gateway, READER_KEY) as reader:
        assert "pasarela://docs/internal" not in [
            str(r.uri) for r in (await reader.list_resources()).resources
        ]
        with pytest.raises(MCPError):
            await reader.read_resource("pasarela://docs/internal")
    async with mcp_http_client(gateway, WRITER_KEY) as writer:
        assert [str(r.uri) for r in (await writer.list_resources()).resources] == ["pasarela://docs/internal"]
        assert (
            text_of((await writer.read_resource("pasarela://docs/internal")).contents[0])
            == "For writers only"
        )


@pytest.mark.parametrize("mode", MODES)
async def test_prompts_declared_and_federated(gateway: str, mode: str) -> None:
    async with mcp_http_client(gateway, READER_KEY, mode=mode) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        declared = await client.get_prompt("summarize", {"customer_id": "12345", "tone": "formal"})
        federated = await client.get_prompt("up_greeting", {"customer": "Ada", "region": "EU"})
    assert set(listed) == {"summarize", "up_greeting"}
    assert [(a.name, a.required) for a in listed["summarize"].arguments or []] == [
        ("customer_id", True),
        ("tone", False),
    ]
    first, second = declared.messages
    assert isinstance(first.content, TextContent)
    assert first.content.text == "Summarize customer 12345 in a formal tone. Keep {braces} as they are."
    assert (second.role, second.content.text) == ("assistant", "# Guide\nAsk before you act.\n")  # type: ignore[union-attr]
    text = federated.messages[0].content.text  # type: ignore[union-attr]
    assert text.startswith("Write a warm greeting to Ada in EU.")
    assert SECRET not in text


async def test_declared_prompt_arguments_are_checked(gateway: str) -> None:
    async with mcp_http_client(gateway, READER_KEY) as client:
        for arguments, message in (
            ({}, "prompt 'summarize' needs argument 'customer_id'"),
            ({"customer_id": "1", "tone": "rude"}, "argument 'tone': expected one of ['formal', 'friendly']"),
            ({"customer_id": "1", "extra": "x"}, "prompt 'summarize' has no argument 'extra'"),
        ):
            with pytest.raises(MCPError) as refused:
                await client.get_prompt("summarize", arguments)
            assert refused.value.code == -32602
            assert refused.value.error.message == message


@pytest.mark.parametrize("mode", MODES)
async def test_completions_from_enums_examples_and_the_upstream(gateway: str, mode: str) -> None:
    async with mcp_http_client(gateway, READER_KEY, mode=mode) as client:
        tone = await client.complete(PromptReference(name="summarize"), {"name": "tone", "value": "f"})
        ids = await client.complete(
            PromptReference(name="summarize"), {"name": "customer_id", "value": "123"}
        )
        names = await client.complete(
            ResourceTemplateReference(uri="pasarela://greetings/{name}"), {"name": "name", "value": "a"}
        )
        relayed = await client.complete(PromptReference(name="up_greeting"), {"name": "region", "value": "E"})
        template = await client.complete(
            ResourceTemplateReference(uri="docs://branches/{region}/hours"), {"name": "region", "value": "A"}
        )
    assert tone.completion.values == ["formal", "friendly"]
    assert ids.completion.values == ["12345", "12399"]
    assert names.completion.values == ["Ada", "Alan"]
    assert relayed.completion.values == ["EU"]  # the upstream's own answer, relayed
    assert template.completion.values == ["APAC"]


async def test_completion_of_what_the_caller_may_not_get_is_refused(gateway: str) -> None:
    async with mcp_http_client(gateway, NOBODY_KEY) as client:
        with pytest.raises(MCPError) as refused:
            await client.complete(PromptReference(name="up_greeting"), {"name": "region", "value": "E"})
    assert refused.value.error.message == "Unknown prompt: up_greeting"


async def test_lists_are_paginated_with_cursors(tmp_path: Path, upstream_url: str) -> None:
    async with (
        running_gateway(content_config(tmp_path, upstream_url, many=True), ENV) as (url, _),
        mcp_http_client(f"{url}/mcp", READER_KEY) as client,
    ):
        first = await client.list_resources()
        assert len(first.resources) == 100 and first.next_cursor
        second = await client.list_resources(cursor=first.next_cursor)
        assert second.next_cursor is None
        everything = [str(r.uri) for r in [*first.resources, *second.resources]]
        assert len(everything) == len(set(everything)) == MANY + 3
        with pytest.raises(MCPError) as refused:
            await client.list_resources(cursor="not-a-cursor")
        assert refused.value.code == -32602


async def test_reads_and_gets_are_audited(tmp_path: Path, upstream_url: str) -> None:
    async with running_gateway(content_config(tmp_path, upstream_url, audit=True), ENV) as (url, runtime):
        async with mcp_http_client(f"{url}/mcp", READER_KEY) as client:
            await client.read_resource("docs://handbook")
            await client.get_prompt("summarize", {"customer_id": "12345"})
        async with mcp_http_client(f"{url}/mcp", NOBODY_KEY) as client:
            with pytest.raises(MCPError):
                await client.read_resource("pasarela://docs/faq")
        assert runtime.audit is not None
        await runtime.audit.flush()
        async with runtime.state.engine.connect() as db:
            rows = (
                await db.execute(
                    select(
                        audit_records.c.principal,
                        audit_records.c.tool,
                        audit_records.c.decision,
                        audit_records.c.outcome,
                    )
                    .where(audit_records.c.tool.like("%:%"))
                    .order_by(audit_records.c.seq)
                )
            ).all()
    assert [tuple(r) for r in rows] == [
        ("reader", "resource:up_handbook", "allow", "ok"),
        ("reader", "prompt:summarize", "allow", "ok"),
        ("nobody", "resource:faq", "deny", "denied"),
    ]
