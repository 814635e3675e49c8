"""Issue 10: one agent's bad inputs must not open the breaker for every agent.

Three agents share a CRM behind a fault-injecting upstream that answers 500 to `limit=5.0` (an
integer the schema accepts but the CRM chokes on). The sales bot alone is paused; support and
compliance keep working. A real outage, seen by two agents, still opens it for everyone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.faults import Answer, FaultyUpstream
from tests.helpers.gateway import READER_KEY, WRITER_KEY, bearer, gateway_for, sha

pytestmark = pytest.mark.anyio

SALES, SUPPORT = READER_KEY, WRITER_KEY
COMPLIANCE = "compliance-key-0000009"
IDENTITY = f'    - {{principal: compliance, key_sha256: "{sha(COMPLIANCE)}", roles: [reader]}}\n'
ITEMS = "    retry: {attempts: 1}\n    circuit_breaker: {min_calls: 5, failure_ratio: 0.5, open_for: 60s}\n"


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream() as server:
        yield server


async def search(client: httpx.AsyncClient, key: str, limit: Any) -> httpx.Response:
    return await client.post(
        "/v1/tools/searchItems:call", json={"arguments": {"limit": limit}}, headers=bearer(key)
    )


def metric(runtime: Any, name: str, **labels: str) -> float:
    value: float | None = runtime.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_one_agents_bad_inputs_pause_that_agent_only(
    tmp_path: Path, upstream: FaultyUpstream, shared_url: str
) -> None:
    upstream.when("limit=5.0", Answer(500, {"error": "limit must be an integer"}))
    async with gateway_for(tmp_path, upstream.url, shared=shared_url, identity=IDENTITY, items=ITEMS) as (
        client,
        runtime,
    ):
        sales = []
        for _ in range(12):
            sales.append(await search(client, SALES, 5.0))
            # Between the sales bot's calls, the others work as usual.
            assert (await search(client, SUPPORT, 5)).status_code == 200
            assert (await search(client, COMPLIANCE, 3)).status_code == 200
        assert [r.status_code for r in sales] == [502] * 5 + [503] * 7
        problem = sales[-1].json()
        assert problem["type"] == "urn:pasarela:problem:caller_circuit_open"
        assert problem["backend"] == "items" and 59 <= problem["retry_after"] <= 60
        assert sales[-1].headers["Retry-After"] == "60"
        assert upstream.count("/items?limit=5.0") == 5  # paused calls never reached the CRM

        # Repeating the bad calls keeps only the sales bot out.
        for _ in range(10):
            assert (await search(client, SALES, 5.0)).status_code == 503
        assert (await search(client, SUPPORT, 5)).status_code == 200
        assert (await search(client, COMPLIANCE, 3)).status_code == 200
        # ... and the sales bot's good calls are paused too, until its own probes pass.
        assert (await search(client, SALES, 5)).json()["code"] == "caller_circuit_open"
        assert metric(runtime, "pasarela_circuit_breaker_transitions_total", backend="items", to="open") == 0
        assert metric(runtime, "pasarela_caller_circuit_transitions_total", backend="items", to="open") == 1
        assert (
            metric(runtime, "pasarela_caller_circuit_rejections_total", backend="items", tool="searchItems")
            == 18
        )


async def test_a_real_outage_still_opens_it_for_everyone(
    tmp_path: Path, upstream: FaultyUpstream, shared_url: str
) -> None:
    upstream.default = Answer(500, {"error": "database down"})
    async with gateway_for(tmp_path, upstream.url, shared=shared_url, identity=IDENTITY, items=ITEMS) as (
        client,
        runtime,
    ):
        for key in (SALES, SUPPORT, SALES, SUPPORT, SALES):
            assert (await search(client, key, 5)).status_code == 502
        refused = await search(client, COMPLIANCE, 5)  # never called before: refused all the same
        assert refused.status_code == 503
        assert refused.json()["type"] == "urn:pasarela:problem:circuit_open"
        assert upstream.count() == 5
        assert metric(runtime, "pasarela_circuit_breaker_transitions_total", backend="items", to="open") == 1
