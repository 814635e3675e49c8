"""The demo bank's events, against the running demo: the CRM's `update_customer_contact` emits a
signed `customer_updated` webhook; the support bots, subscribed over SSE and MCP, hear of their
own region's customers only; the next `get_customer_info` is a cache miss with the new data; a
booked transaction is captured (polling on SQLite, logical decoding on PostgreSQL), heard by
compliance and delivered to its webhook receiver, signature verified."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from pasarela.demo.events import SLOT
from pasarela.demo.transactions import book
from tests.conftest import POSTGRES_URL, need_service
from tests.e2e.test_demo import _fresh_transactions_table, drop_demo_slot, running_demo
from tests.events.support import replication_slot_made
from tests.helpers.mcp_clients import subscribe_legacy

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
CUSTOMERS = "pasarela://events/customer_updated"  # a resource per type, a template per subject


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def sse(rest_url: str, key: str, types: str) -> AsyncIterator[list[dict[str, Any]]]:
    """A subscriber over Server-Sent Events: the events it receives, as they come."""
    received: list[dict[str, Any]] = []
    connected = anyio.Event()

    async def listen() -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as http,
            http.stream("GET", f"{rest_url}/events/stream?types={types}", headers=bearer(key)) as answer,
        ):
            assert answer.status_code == 200
            async for line in answer.aiter_lines():
                connected.set()  # the first line (": events after N") says where it starts
                if line.startswith("data: "):
                    received.append(json.loads(line.removeprefix("data: ")))

    async with anyio.create_task_group() as group:
        group.start_soon(listen)
        with anyio.fail_after(15):
            await connected.wait()
        yield received
        group.cancel_scope.cancel()


async def until(received: list[dict[str, Any]], count: int, what: str) -> list[dict[str, Any]]:
    with anyio.fail_after(20):
        while len(received) < count:  # noqa: ASYNC110 - the listener appends as events arrive
            await anyio.sleep(0.05)
    assert len(received) == count, f"{what}: {received}"
    return received


async def until_heard(heard: list[str], count: int) -> list[str]:
    with anyio.fail_after(20):
        while len(heard) < count:  # noqa: ASYNC110 - the session's handler appends
            await anyio.sleep(0.05)
    return heard


async def call(http: httpx.AsyncClient, key: str, tool: str, **arguments: str) -> httpx.Response:
    return await http.post(f"/tools/{tool}:call", json={"arguments": arguments}, headers=bearer(key))


@asynccontextmanager
async def mcp_subscribed(mcp_url: str, key: str, uris: list[str]) -> AsyncIterator[list[str]]:
    """A support bot subscribed over MCP (resources/subscribe, 2025-11-25 sessions): the URIs of
    the `notifications/resources/updated` it receives."""
    heard: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            heard.append(str(message.params.uri))

    async with (
        create_mcp_http_client(headers=bearer(key)) as client_http,
        Client(
            streamable_http_client(mcp_url, http_client=client_http),
            mode="legacy",
            message_handler=on_message,
        ) as client,
    ):
        for uri in uris:
            await subscribe_legacy(client, uri)
        yield heard


async def test_customer_updates_reach_their_region_and_drop_the_cached_customer(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        eu, us, compliance = (
            demo.keys["support-bot"],
            demo.keys["support-bot-us"],
            demo.keys["compliance-bot"],
        )
        async with (
            httpx.AsyncClient(base_url=demo.rest_url, timeout=15) as http,
            sse(demo.rest_url, eu, "customer_updated") as heard_by_eu,
            sse(demo.rest_url, us, "customer_updated") as heard_by_us,
            mcp_subscribed(demo.mcp_url, eu, [f"{CUSTOMERS}/45678", f"{CUSTOMERS}/12345"]) as eu_over_mcp,
        ):
            before = await call(http, eu, "get_customer_info", customer_id="12345", region="EU")
            cached = await call(http, eu, "get_customer_info", customer_id="12345", region="EU")
            assert (before.json()["meta"]["cache"], cached.json()["meta"]["cache"]) == ("miss", "hit")
            assert cached.json()["meta"]["backend"] == "crm" and cached.json()["meta"]["source"] == "cache"
            assert before.json()["result"]["address"] == "1 Fleet Street, London"

            # Each support bot changes customers of its own region only (policy, then the CRM).
            for key, customer, region, status in (
                (us, "12345", "EU", 403),
                (eu, "45678", "US", 403),
                (eu, "45678", "EU", 502),  # a US customer: the CRM itself answers 404
            ):
                refused = await call(
                    http, key, "update_customer_contact", customer_id=customer, region=region, phone="+1"
                )
                assert refused.status_code == status, refused.text
            nothing = await call(http, eu, "update_customer_contact", customer_id="12345", region="EU")
            assert nothing.status_code == 502 and "give one or more of phone" in nothing.text
            sales = await call(
                http,
                demo.keys["sales-bot"],
                "update_customer_contact",
                customer_id="12345",
                region="EU",
                phone="+1",
            )
            assert sales.status_code == 403, "only support updates customers"

            us_change = await call(
                http, us, "update_customer_contact", customer_id="45678", region="US", address="1 Main St"
            )
            assert us_change.status_code == 200, us_change.text
            eu_change = await call(
                http,
                eu,
                "update_customer_contact",
                customer_id="12345",
                region="EU",
                phone="+44 20 7946 0999",
                address="221B Baker Street, London",
            )
            assert eu_change.json()["result"]["changed_fields"] == ["phone", "address"], eu_change.text

            # The US change was logged first: were it not withheld, the EU bot would hear it first.
            [update] = await until(heard_by_eu, 1, "the EU bot hears of its own customer only")
            assert (update["type"], update["subject"], update["source"]) == (
                "customer_updated",
                "12345",
                "urn:pasarela:source:crm",
            )
            assert update["data"] == {
                "customer_id": "12345",
                "region": "EU",
                "changed_fields": ["phone", "address"],
            }
            assert update["dataschema"] == "urn:pasarela:schema:customer_updated@1"
            # Over MCP too: subscribed to both customers, it is told of its own region's only.
            assert (await until_heard(eu_over_mcp, 1)) == [f"{CUSTOMERS}/12345"]
            [us_update] = await until(heard_by_us, 1, "the US bot hears of the US customer")
            assert us_update["subject"] == "45678"

            # Heard of: the cached copy is gone, for every agent; the next read is fresh.
            after = await call(http, eu, "get_customer_info", customer_id="12345", region="EU")
            assert after.json()["meta"]["cache"] == "miss", after.json()["meta"]
            assert after.json()["result"]["address"] == "221B Baker Street, London"
            assert after.json()["result"]["phone"].endswith("0999")  # masked for support but for the last 4
            assert after.json()["meta"]["as_of"] >= cached.json()["meta"]["as_of"]

            # Another US change: the US bot hears it next, never the EU customer's in between.
            await call(
                http, us, "update_customer_contact", customer_id="45678", region="US", email="a@example.com"
            )
            assert [e["subject"] for e in await until(heard_by_us, 2, "US only")] == ["45678", "45678"]
            assert len(heard_by_eu) == 1 and eu_over_mcp == [f"{CUSTOMERS}/12345"]

            # Compliance may subscribe to every type; support may not ask for transactions.
            assert (await http.get("/events?types=transaction_booked", headers=bearer(eu))).status_code == 403
            seen = await http.get("/events?types=customer_updated&after=0", headers=bearer(compliance))
            assert [e["subject"] for e in seen.json()["events"]] == ["45678", "12345", "45678"]

            await _a_booking_is_heard(http, compliance, f"sqlite:///{tmp_path / 'transactions.db'}", tmp_path)


async def _a_booking_is_heard(http: httpx.AsyncClient, compliance: str, database: str, data: Path) -> None:
    """Book a transaction in the database itself: change data capture makes it an event, which
    compliance reads (long poll) and its webhook receiver gets, signed."""
    start = (await http.get("/events?types=transaction_booked", headers=bearer(compliance))).json()
    transaction = await book(database, "ACC-1001", "-12.50", "Coffee", "Bean There")
    with anyio.fail_after(25):
        page = await http.get(
            f"/events?types=transaction_booked&after={start['next_cursor']}&wait=20s",
            headers=bearer(compliance),
            timeout=30,
        )
    [booked] = page.json()["events"]
    assert booked["type"] == "transaction_booked" and booked["subject"] == "ACC-1001"
    assert booked["data"]["transaction_id"] == transaction
    assert float(booked["data"]["amount"]) == -12.5 and booked["data"]["currency"] == "EUR"
    log = data / "webhooks.log"
    with anyio.fail_after(20):
        while transaction not in (log.read_text() if log.exists() else ""):  # noqa: ASYNC110 - another process writes it
            await anyio.sleep(0.1)
    [line] = [line for line in log.read_text().splitlines() if transaction in line]
    assert " transaction_booked " in line and "verified=yes" in line and "subject=ACC-1001" in line


async def test_transactions_are_captured_from_the_postgresql_log(tmp_path: Path) -> None:
    import asyncpg

    need_service(await _fresh_transactions_table(POSTGRES_URL))
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        level = await connection.fetchval("SHOW wal_level")
    finally:
        await connection.close()
    need_service(None if level == "logical" else f"wal_level={level}: run .ci/postgres-logical")
    try:
        with running_demo(tmp_path, "--postgres", POSTGRES_URL) as demo:
            # The source makes its replication slot as it starts, beside the gateway: a row
            # written before the slot exists is not in its log. Book once it is there.
            await _slot_made(POSTGRES_URL)
            async with httpx.AsyncClient(base_url=demo.rest_url, timeout=15) as http:
                await _a_booking_is_heard(http, demo.keys["compliance-bot"], POSTGRES_URL, tmp_path)
    finally:
        await drop_demo_slot(POSTGRES_URL)


async def _slot_made(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await replication_slot_made(connection, SLOT, timeout=60)
    finally:
        await connection.close()
