"""Retries, timeouts, bulkhead and breaker against a fault-injecting upstream.

Each behaviour is asserted twice: by what the agent got and by what the upstream saw.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import httpx
import pytest

from pasarela.assembly import Runtime
from tests.helpers.faults import Answer, FaultyUpstream, Hang, Reset
from tests.helpers.gateway import READER_KEY, WRITER_KEY, bearer, gateway_for

pytestmark = pytest.mark.anyio

FAST_RETRY = "    retry: {attempts: 3, wait_initial: 10ms, wait_max: 2s, wait_jitter: 0ms}\n"


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream() as server:
        yield server


def gateway(
    tmp_path: Path, upstream: FaultyUpstream, items: str = FAST_RETRY
) -> AbstractAsyncContextManager[tuple[httpx.AsyncClient, Runtime]]:
    return gateway_for(tmp_path, upstream.url, items=items)


def metric(runtime: Runtime, name: str, **labels: str) -> float:
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0


async def get_item(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.post(
        "/v1/tools/getItem:call",
        json={"arguments": {"item_id": "7"}},
        headers={**bearer(READER_KEY), **headers},
    )


async def create_item(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.post(
        "/v1/tools/createItem:call",
        json={"arguments": {"name": "x"}},
        headers={**bearer(WRITER_KEY), **headers},
    )


async def test_a_5xx_burst_on_a_read_is_retried_until_it_succeeds(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    upstream.then(Answer(503), Answer(502))
    async with gateway(tmp_path, upstream) as (client, runtime):
        response = await get_item(client)
        assert response.status_code == 200, response.text
        assert upstream.count("/items/7") == 3
        assert metric(runtime, "pasarela_upstream_retries_total", backend="items", tool="getItem") == 2


async def test_retries_stop_after_the_configured_attempts(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.then(*[Answer(503)] * 5)
    async with gateway(tmp_path, upstream) as (client, _):
        response = await get_item(client)
        assert response.status_code == 502
        assert response.json()["upstream_status"] == 503
        assert upstream.count() == 3


async def test_a_write_is_not_retried(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.then(Answer(503))
    async with gateway(tmp_path, upstream) as (client, _):
        response = await create_item(client)
        assert response.status_code == 502
        assert upstream.count("/items") == 1


async def test_a_write_with_an_idempotency_key_is_retried(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.then(Answer(503), Answer(201, {"id": "new"}))
    async with gateway(tmp_path, upstream) as (client, _):
        response = await create_item(client, **{"Idempotency-Key": "k-1"})
        assert response.status_code == 200, response.text
        assert response.json()["result"] == {"id": "new"}
        assert upstream.count("/items") == 2


async def test_a_client_error_is_not_retried(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.then(Answer(404, {"error": "no such item"}))
    async with gateway(tmp_path, upstream) as (client, _):
        response = await get_item(client)
        assert response.status_code == 502 and response.json()["upstream_status"] == 404
        assert upstream.count() == 1


async def test_429_is_retried_after_the_backends_retry_after(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    upstream.then(Answer(429, headers={"Retry-After": "1"}))
    async with gateway(tmp_path, upstream) as (client, _):
        started = time.monotonic()
        response = await get_item(client)
        waited = time.monotonic() - started
        assert response.status_code == 200
        assert upstream.count() == 2
        assert waited >= 0.95  # the backend asked for a second, and got it


async def test_a_long_retry_after_is_passed_to_the_agent_instead(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    upstream.then(Answer(429, headers={"Retry-After": "120"}))
    async with gateway(tmp_path, upstream) as (client, _):
        response = await get_item(client)
        assert upstream.count() == 1
        assert response.status_code == 502
        assert response.headers["Retry-After"] == "120"
        assert response.json()["retry_after"] == 120


async def test_a_hang_times_out_and_the_retry_succeeds(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.then(Hang())
    items = FAST_RETRY + "    timeout: 300ms\n"
    async with gateway(tmp_path, upstream, items) as (client, _):
        started = time.monotonic()
        response = await get_item(client)
        assert response.status_code == 200
        assert upstream.count() == 2
        assert time.monotonic() - started < 2


async def test_a_hang_on_a_write_is_a_504_without_retry(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.then(Hang())
    items = FAST_RETRY + "    timeout: 300ms\n"
    async with gateway(tmp_path, upstream, items) as (client, _):
        response = await create_item(client)
        assert response.status_code == 504
        assert response.json()["type"] == "urn:pasarela:problem:upstream_timeout"
        assert upstream.count() == 1


async def test_a_connection_reset_is_retried(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.then(Reset())
    async with gateway(tmp_path, upstream) as (client, _):
        response = await get_item(client)
        assert response.status_code == 200
        assert upstream.count() == 2


async def test_the_retry_budget_caps_retries(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.default = Answer(503)
    items = "    retry: {attempts: 3, wait_initial: 1ms, wait_jitter: 0ms, budget_ratio: 0, budget_min: 1}\n"
    async with gateway(tmp_path, upstream, items) as (client, runtime):
        for _ in range(3):
            assert (await get_item(client)).status_code == 502
        # Three calls, one retry in all: the budget allowed budget_min and no share of calls.
        assert upstream.count() == 4
        assert metric(runtime, "pasarela_retry_budget_exhausted_total", backend="items") == 3


async def test_the_bulkhead_fails_fast_with_throttled(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.default = Answer(200, delay=0.5)
    items = "    concurrency: 1\n    concurrency_wait: 100ms\n"
    async with gateway(tmp_path, upstream, items) as (client, runtime):
        responses: list[httpx.Response] = []

        async def one() -> None:
            responses.append(await get_item(client))

        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            await anyio.sleep(0.05)
            tg.start_soon(one)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 503]
        throttled = next(r for r in responses if r.status_code == 503)
        assert throttled.json()["type"] == "urn:pasarela:problem:throttled"
        assert throttled.headers["Retry-After"] == "1"
        assert upstream.count() == 1
        assert metric(runtime, "pasarela_bulkhead_rejections_total", backend="items", tool="getItem") == 1


async def test_the_breaker_opens_and_fails_fast(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.default = Answer(500)
    items = (
        "    retry: {attempts: 1}\n    circuit_breaker: {min_calls: 3, failure_ratio: 0.5, open_for: 60s}\n"
    )
    async with gateway(tmp_path, upstream, items) as (client, runtime):
        # Failing calls from two principals (min_principals: 2) say the backend is unwell.
        for key in (READER_KEY, WRITER_KEY, READER_KEY):
            assert (await get_item(client, **bearer(key))).status_code == 502
        refused = await get_item(client, **bearer(WRITER_KEY))
        assert refused.status_code == 503
        problem = refused.json()
        assert problem["type"] == "urn:pasarela:problem:circuit_open"
        assert problem["backend"] == "items"
        assert 59 <= problem["retry_after"] <= 60
        assert upstream.count() == 3  # the fourth call never reached the backend
        assert metric(runtime, "pasarela_circuit_breaker_state", backend="items") == 1
        assert metric(runtime, "pasarela_circuit_breaker_transitions_total", backend="items", to="open") == 1


async def test_client_errors_do_not_open_the_breaker(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.default = Answer(404)
    items = "    circuit_breaker: {min_calls: 2}\n"
    async with gateway(tmp_path, upstream, items) as (client, _):
        for _ in range(5):
            assert (await get_item(client)).status_code == 502
        assert upstream.count() == 5
