"""Quotas and idempotency keys live in the durable state: SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import anyio
import httpx
import pytest
from mcp.types import RequestParamsMeta

from pasarela.assembly import Runtime
from pasarela.pipeline.call import Door
from pasarela.traffic.idempotency import IdempotencyLedger, fingerprint
from pasarela.traffic.quotas import QuotaLedger, period_of, quota_report
from tests.helpers.faults import Answer, FaultyUpstream
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, bearer, gateway_for, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import serving
from tests.helpers.servers import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream(Answer(201, {"id": "new"})) as server:
        yield server


def gateway(
    tmp_path: Path, upstream: FaultyUpstream, state_url: str, extra: str = ""
) -> AbstractAsyncContextManager[tuple[httpx.AsyncClient, Runtime]]:
    return gateway_for(tmp_path, upstream.url, state=state_url, extra=extra)


async def create_item(client: httpx.AsyncClient, name: str = "x", key: str | None = None) -> httpx.Response:
    headers = {**bearer(WRITER_KEY), **({"Idempotency-Key": key} if key else {})}
    return await client.post("/v1/tools/createItem:call", json={"arguments": {"name": name}}, headers=headers)


QUOTA = "quotas:\n  - {tools: [createItem], key: [principal, tool], limit: 2, per: day}\n"


async def test_a_quota_survives_a_restart(tmp_path: Path, upstream: FaultyUpstream, state_url: str) -> None:
    async with gateway(tmp_path, upstream, state_url, QUOTA) as (client, _):
        assert (await create_item(client)).status_code == 200
    async with gateway(tmp_path, upstream, state_url, QUOTA) as (client, runtime):
        assert (await create_item(client)).status_code == 200
        refused = await create_item(client)
        assert refused.status_code == 429
        problem = refused.json()
        assert problem["type"] == "urn:pasarela:problem:quota_exceeded"
        assert problem["quota"] == "quotas[0]"
        assert 0 < problem["retry_after"] <= 86400
        assert upstream.count() == 2
        report = await quota_report(
            runtime.config.settings, QuotaLedger(runtime.state), datetime.now(UTC).timestamp()
        )
        assert [(r.subject, r.used, r.limit) for r in report] == [("principal=writer|tool=createItem", 2, 2)]


async def test_a_quota_charges_each_principal_separately(
    tmp_path: Path, upstream: FaultyUpstream, state_url: str
) -> None:
    extra = "quotas:\n  - {tools: [getItem], limit: 1, per: month}\n"
    async with gateway(tmp_path, upstream, state_url, extra) as (client, _):
        for key in (READER_KEY, WRITER_KEY):
            ok = await client.post(
                "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(key)
            )
            assert ok.status_code == 200
        again = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
        )
        assert again.status_code == 429


def test_periods_are_utc_days_and_months() -> None:
    moment = datetime(2026, 12, 31, 23, 0, tzinfo=UTC).timestamp()
    assert period_of("day", moment) == ("2026-12-31", 3600.0)
    assert period_of("month", moment) == ("2026-12", 3600.0)


async def test_an_idempotency_key_replays_the_first_outcome(
    tmp_path: Path, upstream: FaultyUpstream, state_url: str
) -> None:
    async with gateway(tmp_path, upstream, state_url) as (client, runtime):
        first = await create_item(client, key="order-1")
        second = await create_item(client, key="order-1")
        assert first.status_code == second.status_code == 200
        assert second.json()["result"] == first.json()["result"]
        assert second.json()["meta"]["idempotent_replay"] is True
        assert "idempotent_replay" not in first.json()["meta"]
        assert upstream.count() == 1
        replays = runtime.metrics.registry.get_sample_value(
            "pasarela_idempotent_replays_total", {"tool": "createItem"}
        )
        assert replays == 1
    # A restart forgets nothing.
    async with gateway(tmp_path, upstream, state_url) as (client, _):
        assert (await create_item(client, key="order-1")).json()["meta"]["idempotent_replay"] is True
        assert upstream.count() == 1


async def test_the_same_key_with_other_arguments_is_a_409(
    tmp_path: Path, upstream: FaultyUpstream, state_url: str
) -> None:
    async with gateway(tmp_path, upstream, state_url) as (client, _):
        await create_item(client, "x", key="order-2")
        conflict = await create_item(client, "y", key="order-2")
        assert conflict.status_code == 409
        assert conflict.json()["type"] == "urn:pasarela:problem:idempotency_conflict"
        assert upstream.count() == 1


async def test_keys_belong_to_their_principal(
    tmp_path: Path, upstream: FaultyUpstream, state_url: str
) -> None:
    extra = "access:\n  reader: [createItem]\n  writer: ['*']\n"
    async with gateway(tmp_path, upstream, state_url, extra) as (client, _):
        await create_item(client, key="shared-key")
        other = await client.post(
            "/v1/tools/createItem:call",
            json={"arguments": {"name": "x"}},
            headers={**bearer(READER_KEY), "Idempotency-Key": "shared-key"},
        )
        assert other.status_code == 200 and "idempotent_replay" not in other.json()["meta"]
        assert upstream.count() == 2


async def test_a_failed_first_call_frees_the_key(
    tmp_path: Path, upstream: FaultyUpstream, state_url: str
) -> None:
    upstream.then(Answer(400, {"error": "bad"}))
    async with gateway(tmp_path, upstream, state_url) as (client, _):
        assert (await create_item(client, key="order-3")).status_code == 502
        retried = await create_item(client, key="order-3")
        assert retried.status_code == 200 and "idempotent_replay" not in retried.json()["meta"]
        assert upstream.count() == 2


async def test_a_cancelled_first_call_frees_the_key(
    tmp_path: Path, upstream: FaultyUpstream, state_url: str
) -> None:
    upstream.then(Answer(201, {"id": "slow"}, delay=5.0))
    async with gateway(tmp_path, upstream, state_url) as (_, runtime):
        writer = runtime.authenticator.api_keys.principals()
        [principal] = [p for p in writer if p.id == "writer"]
        with anyio.move_on_after(0.5):  # the client goes away mid-call
            await runtime.gateway.call(
                principal, "createItem", {"name": "x"}, door=Door.REST, idempotency_key="order-9"
            )
        retried = await runtime.gateway.call(
            principal, "createItem", {"name": "x"}, door=Door.REST, idempotency_key="order-9"
        )
        assert retried.result == {"id": "new"}, "the retry runs, rather than 409 for the abandon period"


async def test_an_overlong_key_is_a_400(tmp_path: Path, upstream: FaultyUpstream, state_url: str) -> None:
    async with gateway(tmp_path, upstream, state_url) as (client, _):
        response = await create_item(client, key="k" * 256)
        assert response.status_code == 400
        assert upstream.count() == 0


async def test_a_key_whose_first_call_never_finished_is_freed(
    tmp_path: Path, upstream: FaultyUpstream, state_url: str
) -> None:
    async with gateway(tmp_path, upstream, state_url, "idempotency: {abandon_after: 1s}\n") as (
        client,
        runtime,
    ):
        ledger = IdempotencyLedger(runtime.state, 86400, 1.0)
        # A replica claimed the key, then died before finishing.
        assert (
            await ledger.claim("writer", "order-4", "createItem", fingerprint("createItem", {"name": "x"}))
            is None
        )
        in_flight = await create_item(client, key="order-4")
        assert in_flight.status_code == 409, in_flight.text
        assert in_flight.headers["Retry-After"] == "1", in_flight.text
        await anyio.sleep(1.1)
        assert (await create_item(client, key="order-4")).status_code == 200
        assert upstream.count() == 1


async def test_mcp_meta_idempotency_key_replays(
    tmp_path: Path, upstream: FaultyUpstream, state_url: str
) -> None:
    port = free_port()
    config = write_config(tmp_path, upstream.url, port=port, extra=f"state: {state_url}\n")
    with serving(config, port, ENV) as url:
        async with mcp_http_client(f"{url}/mcp", WRITER_KEY) as client:
            # `_meta` is open to extra keys; the SDK's TypedDict only names progress_token.
            meta = cast(RequestParamsMeta, {"idempotency_key": "mcp-order-1"})
            first = await client.call_tool("createItem", {"name": "x"}, meta=meta)
            second = await client.call_tool("createItem", {"name": "x"}, meta=meta)
            assert not first.is_error and not second.is_error
            assert second.meta is not None and second.meta["pasarela"]["idempotent_replay"] is True
            conflict = await client.call_tool("createItem", {"name": "y"}, meta=meta)
            assert conflict.is_error
    assert upstream.count() == 1
