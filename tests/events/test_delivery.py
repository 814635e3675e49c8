"""Governed delivery: who receives which events (the policy matrix), long polls, SSE resumed with
Last-Event-ID, redaction of event data, cursors, and cache invalidation by events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from tests.events import crm_tools
from tests.events.support import (
    AUDITOR_KEY,
    OUTSIDER_KEY,
    SUPPORT_EU_KEY,
    SUPPORT_US_KEY,
    config_text,
    customer_updated,
    gateway,
    push,
    served,
    standard_signed,
    write,
)
from tests.helpers.gateway import bearer

pytestmark = pytest.mark.anyio


async def send(client: httpx.AsyncClient, customer: str, region: str, event_id: str) -> None:
    body = orjson.dumps(customer_updated(customer, region, event_id=event_id))
    answer = await push(client, "crm", body, standard_signed(body, f"msg-{event_id}"))
    assert answer.status_code == 202, answer.text


async def page(client: httpx.AsyncClient, key: str, query: str) -> httpx.Response:
    return await client.get(f"/v1/events?{query}", headers=bearer(key))


async def test_the_policy_matrix_and_redaction(state_url: str, tmp_path: Path) -> None:
    async with gateway(write(tmp_path, config_text(state_url))) as (client, _):
        await send(client, "12345", "EU", "e1")
        await send(client, "67890", "US", "e2")
        await send(client, "12346", "EU", "e3")

        eu = (await page(client, SUPPORT_EU_KEY, "types=customer_updated&after=0")).json()
        assert [e["data"]["customer_id"] for e in eu["events"]] == ["12345", "12346"]
        assert set(eu) == {"events", "next_cursor"}, "no count of what policy withheld"
        assert eu["events"][0]["data"]["phone"] == "***99", "masked unless unmask is permitted"
        first = eu["events"][0]
        assert (first["specversion"], first["type"], first["source"], first["subject"], first["id"]) == (
            "1.0",
            "customer_updated",
            "urn:pasarela:source:crm",
            "12345",
            "e1",
        )
        assert first["dataschema"] == "urn:pasarela:schema:customer_updated@1"

        us = (await page(client, SUPPORT_US_KEY, "types=customer_updated&after=0")).json()
        assert [e["data"]["customer_id"] for e in us["events"]] == ["67890"]
        everything = (await page(client, AUDITOR_KEY, "after=0")).json()
        assert [e["data"]["customer_id"] for e in everything["events"]] == ["12345", "67890", "12346"]
        assert everything["events"][0]["data"]["phone"] == "+34 600 999 999", "auditors may unmask"

        refused = await page(client, OUTSIDER_KEY, "types=customer_updated")
        assert (
            refused.status_code == 403
            and "may not subscribe to 'customer_updated'" in refused.json()["detail"]
        )
        silent = (await page(client, OUTSIDER_KEY, "after=0")).json()
        assert silent["events"] == [], "every type asked for: narrowed to nothing, silently"
        glob = (await page(client, SUPPORT_EU_KEY, "types=customer_*&after=0")).json()
        assert len(glob["events"]) == 2
        anonymous = await client.get("/v1/events")
        assert anonymous.status_code == 401


async def test_long_poll_waits_for_what_the_reader_may_see(tmp_path: Path) -> None:
    async with gateway(write(tmp_path, config_text(f"sqlite:///{tmp_path / 's.db'}"))) as (client, _):
        start = (await page(client, SUPPORT_EU_KEY, "types=customer_updated")).json()
        assert start["events"] == []
        cursor = start["next_cursor"]
        found: dict[str, object] = {}

        async def poll() -> None:
            answer = await page(client, SUPPORT_EU_KEY, f"types=customer_updated&after={cursor}&wait=20s")
            found.update(answer.json())

        async with anyio.create_task_group() as group:
            group.start_soon(poll)
            await anyio.sleep(0.3)
            await send(client, "67890", "US", "u1")  # withheld: the poll goes on waiting
            await send(client, "12345", "EU", "u2")
        assert [e["id"] for e in found["events"]] == ["u2"]  # type: ignore[attr-defined]
        again = (await page(client, SUPPORT_EU_KEY, f"after={found['next_cursor']}&wait=0s")).json()
        assert again["events"] == []


async def test_cursors_consumers_and_retention(tmp_path: Path) -> None:
    async with gateway(write(tmp_path, config_text(f"sqlite:///{tmp_path / 's.db'}"))) as (client, runtime):
        for n in range(3):
            await send(client, "12345", "EU", f"c{n}")
        bad = await page(client, SUPPORT_EU_KEY, "after=abc")
        assert bad.status_code == 400 and "expected a cursor" in bad.json()["detail"]
        ahead = await page(client, SUPPORT_EU_KEY, "after=999")
        assert ahead.status_code == 400 and "past the end of the log" in ahead.json()["detail"]

        first = (await page(client, SUPPORT_EU_KEY, "consumer=crm-sync&after=0&limit=2")).json()
        assert [e["id"] for e in first["events"]] == ["c0", "c1"]
        acked = (await page(client, SUPPORT_EU_KEY, f"consumer=crm-sync&after={first['next_cursor']}")).json()
        assert [e["id"] for e in acked["events"]] == ["c2"]
        resumed = (await page(client, SUPPORT_EU_KEY, "consumer=crm-sync")).json()
        assert [e["id"] for e in resumed["events"]] == ["c2"], (
            "the consumer's cursor is the last acknowledged"
        )

        swept = await runtime.events.log.sweep(older_than=10**12)
        assert swept == 3
        expired = await page(client, SUPPORT_EU_KEY, "after=1")
        assert expired.status_code == 410 and expired.json()["code"] == "cursor_expired"
        assert (await page(client, SUPPORT_EU_KEY, "after=0")).json()["events"] == []


async def read_sse(
    client: httpx.AsyncClient, key: str, wanted: int, headers: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """Read events off the stream until `wanted` arrived, then drop the connection."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async with client.stream(
        "GET", "/v1/events/stream?types=customer_updated", headers={**bearer(key), **(headers or {})}
    ) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                    if len(events) >= wanted:
                        return events
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = value
    return events


async def test_sse_delivers_and_resumes_after_a_dropped_connection(state_url: str, tmp_path: Path) -> None:
    async with served(write(tmp_path, config_text(state_url))) as (client, _):
        received: list[dict[str, str]] = []

        async def listen() -> None:
            received.extend(await read_sse(client, SUPPORT_EU_KEY, 2))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(listen)
                await anyio.sleep(0.3)
                await send(client, "12345", "EU", "s1")
                await send(client, "67890", "US", "s2")
                await send(client, "12345", "EU", "s3")
        assert [json.loads(e["data"])["id"] for e in received] == ["s1", "s3"]
        assert received[0]["event"] == "customer_updated"
        last = received[-1]["id"]
        # The connection is gone; more happens meanwhile; the client comes back with Last-Event-ID.
        await send(client, "12346", "EU", "s4")
        await send(client, "12345", "US", "s5")
        await send(client, "12347", "EU", "s6")
        with anyio.fail_after(30):
            resumed = await read_sse(client, SUPPORT_EU_KEY, 2, {"Last-Event-ID": last})
        assert [json.loads(e["data"])["id"] for e in resumed] == ["s4", "s6"], "nothing lost, nothing twice"


async def test_an_update_makes_the_next_read_a_cache_miss_for_every_principal(
    shared_url: str, tmp_path: Path
) -> None:
    config = write(tmp_path, config_text(f"sqlite:///{tmp_path / 's.db'}", shared=shared_url))
    crm_tools.READS.clear()
    async with gateway(config) as (client, runtime):

        async def read(key: str, customer: str) -> Any:
            answer = await client.post(
                "/v1/tools/get_customer:call",
                json={"arguments": {"customer_id": customer}},
                headers=bearer(key),
            )
            assert answer.status_code == 200, answer.text
            return answer.json()

        assert (await read(SUPPORT_EU_KEY, "12345"))["meta"]["cache"] == "miss"
        assert (await read(AUDITOR_KEY, "12345"))["meta"]["cache"] == "miss"
        assert (await read(AUDITOR_KEY, "67890"))["meta"]["cache"] == "miss"
        assert (await read(SUPPORT_EU_KEY, "12345"))["meta"]["cache"] == "hit"
        crm_tools.CUSTOMERS["12345"] = {**crm_tools.CUSTOMERS["12345"], "phone": "+34 600 999 999"}
        try:
            await send(client, "12345", "EU", "inv-1")
            with anyio.fail_after(10):
                while runtime.events.core.tail.high < 1:  # noqa: ASYNC110 - the tail has no event to wait on
                    await anyio.sleep(0.02)
            for key in (SUPPORT_EU_KEY, AUDITOR_KEY):
                fresh = await read(key, "12345")
                assert fresh["meta"]["cache"] == "miss", "dropped for every principal"
                assert fresh["result"]["phone"] == "+34 600 999 999"
            assert (await read(AUDITOR_KEY, "67890"))["meta"]["cache"] == "hit", "other customers stay cached"
        finally:
            crm_tools.CUSTOMERS["12345"] = {**crm_tools.CUSTOMERS["12345"], "phone": "+34 600 000 001"}
