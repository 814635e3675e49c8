"""Events as MCP resources with the official client: a resource per event type and a template
per subject, listed only for those who may subscribe; reads return recent events with a cursor;
`resources/subscribe` (2025-11-25) and `subscriptions/listen` (2026-07-28) tell a subscriber only
of events policy lets it receive."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import orjson
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from pasarela.assembly import Runtime
from tests.events.support import (
    OUTSIDER_KEY,
    SUPPORT_EU_KEY,
    config_text,
    customer_updated,
    push,
    served,
    standard_signed,
    write,
)
from tests.helpers.mcp_clients import mcp_http_client, subscribe_legacy

pytestmark = pytest.mark.anyio
TYPE_URI = "pasarela://events/customer_updated"
EU_URI = f"{TYPE_URI}/EU-1"
US_URI = f"{TYPE_URI}/US-1"


@asynccontextmanager
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, str]]:
    config = write(tmp_path, config_text(f"sqlite:///{tmp_path / 'state.db'}"))
    async with served(config) as (http, runtime):
        yield http, runtime, str(http.base_url.join("/mcp"))


async def send_update(http: httpx.AsyncClient, customer_id: str, region: str, event_id: str) -> None:
    body = orjson.dumps(customer_updated(customer_id, region, event_id=event_id))
    assert (await push(http, "crm", body, standard_signed(body, event_id))).status_code == 202


def events_in(result: types.ReadResourceResult) -> tuple[list[dict[str, Any]], str]:
    content = result.contents[0]
    assert isinstance(content, types.TextResourceContents)
    page = json.loads(content.text)
    return page["events"], page["next_cursor"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_event_types_are_resources_for_those_who_may_subscribe(tmp_path: Path, mode: str) -> None:
    async with gateway(tmp_path) as (_, _, url):
        async with mcp_http_client(url, SUPPORT_EU_KEY, mode=mode) as client:
            resources = [str(r.uri) for r in (await client.list_resources()).resources]
            templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        async with mcp_http_client(url, OUTSIDER_KEY, mode=mode) as client:
            assert (await client.list_resources()).resources == []
            with pytest.raises(MCPError) as refused:
                await client.read_resource(TYPE_URI)
    assert resources == [TYPE_URI]
    assert templates == [f"{TYPE_URI}/{{subject}}"]
    assert refused.value.error.message == f"Resource not found: {TYPE_URI}"


async def test_reads_return_recent_permitted_events_and_a_cursor(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (http, _, url):
        await send_update(http, "EU-1", "EU", "e1")
        await send_update(http, "US-1", "US", "e2")
        await send_update(http, "EU-2", "EU", "e3")
        async with mcp_http_client(url, SUPPORT_EU_KEY) as client:
            recent, cursor = events_in(await client.read_resource(TYPE_URI))
            one, _ = events_in(await client.read_resource(f"{TYPE_URI}/EU-2"))
            await send_update(http, "EU-3", "EU", "e4")
            newer, _ = events_in(await client.read_resource(f"{TYPE_URI}?after={cursor}"))
            with pytest.raises(MCPError):
                await client.read_resource(f"{TYPE_URI}?after=abc")
    assert [e["subject"] for e in recent] == ["EU-1", "EU-2"]  # the US customer's update is not there
    assert recent[0]["data"]["phone"].endswith("99") and "600" not in recent[0]["data"]["phone"]  # redacted
    assert [e["subject"] for e in one] == ["EU-2"]
    assert [e["subject"] for e in newer] == ["EU-3"]


async def test_a_2025_session_subscription_hears_only_events_it_may_receive(tmp_path: Path) -> None:
    heard: anyio.abc.ObjectSendStream[str]
    heard, hearing = anyio.create_memory_object_stream[str](10)

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            await heard.send(message.params.uri)

    async with gateway(tmp_path) as (http, _, url):
        headers = {"Authorization": f"Bearer {SUPPORT_EU_KEY}"}
        async with (
            create_mcp_http_client(headers=headers) as client_http,
            Client(
                streamable_http_client(url, http_client=client_http),
                mode="legacy",
                message_handler=on_message,
            ) as client,
        ):
            await subscribe_legacy(client, US_URI)
            await subscribe_legacy(client, EU_URI)
            with pytest.raises(MCPError):
                await subscribe_legacy(client, "pasarela://events/ledger_closed")  # may not subscribe
            # The US customer's update first: if policy leaked it, it would be heard first.
            await send_update(http, "US-1", "US", "u1")
            await send_update(http, "EU-1", "EU", "u2")
            with anyio.fail_after(20):
                first = await hearing.receive()
    assert first == EU_URI


async def test_a_2026_listen_stream_hears_only_events_it_may_receive(tmp_path: Path) -> None:
    async with (
        gateway(tmp_path) as (http, _, url),
        mcp_http_client(url, SUPPORT_EU_KEY, mode="2026-07-28") as client,
        client.listen(resource_subscriptions=[US_URI, EU_URI, "pasarela://events/nope"]) as stream,
    ):
        assert stream.honored.resource_subscriptions == [US_URI, EU_URI]
        await send_update(http, "US-1", "US", "l1")
        await send_update(http, "EU-1", "EU", "l2")
        heard = None
        with anyio.fail_after(20):
            async for event in stream:
                heard = event
                break
    assert getattr(heard, "uri", None) == EU_URI  # the first event heard; the US one never is
