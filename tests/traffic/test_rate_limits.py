"""Rate limits per principal × tool, per role and per backend, on memory:// and redis://."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from pasarela.assembly import Runtime
from pasarela.config import load_config
from pasarela.errors import ConfigError
from tests.helpers.faults import Answer, FaultyUpstream
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, bearer, gateway_for, sha, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import serving
from tests.helpers.servers import free_port

pytestmark = pytest.mark.anyio

OTHER_READER_KEY = "other-reader-key-0004"
OTHER_READER = f"""\
    - {{principal: reader2, key_sha256: "{sha(OTHER_READER_KEY)}", roles: [reader]}}
"""


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream(Answer(200, {"id": "7"})) as server:
        yield server


def gateway(
    tmp_path: Path, upstream: FaultyUpstream, extra: str, shared: str = "memory://", items: str = ""
) -> AbstractAsyncContextManager[tuple[httpx.AsyncClient, Runtime]]:
    return gateway_for(tmp_path, upstream.url, shared=shared, identity=OTHER_READER, items=items, extra=extra)


async def get_item(client: httpx.AsyncClient, key: str = READER_KEY) -> httpx.Response:
    return await client.post(
        "/v1/tools/getItem:call", json={"arguments": {"item_id": "7"}}, headers=bearer(key)
    )


async def test_a_tool_limit_is_per_principal(
    tmp_path: Path, upstream: FaultyUpstream, shared_url: str
) -> None:
    async with gateway(tmp_path, upstream, "tools:\n  getItem: {rate_limit: 3/minute}\n", shared_url) as (
        client,
        runtime,
    ):
        statuses = [(await get_item(client)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert upstream.count() == 3
        limited = await get_item(client)
        assert limited.headers["Retry-After"].isdigit() and 1 <= int(limited.headers["Retry-After"]) <= 60
        problem = limited.json()
        assert problem["type"] == "urn:pasarela:problem:rate_limited"
        assert problem["limit"] == "3/minute" and 0 < problem["retry_after"] <= 60
        # Another principal has its own counter.
        assert (await get_item(client, OTHER_READER_KEY)).status_code == 200
        rejected = runtime.metrics.registry.get_sample_value(
            "pasarela_rate_limited_total",
            {"backend": "items", "tool": "getItem", "rule": "tools.getItem.rate_limit"},
        )
        assert rejected == 2


async def test_a_backend_limit_protects_it_from_everyone_together(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    async with gateway(tmp_path, upstream, "", items="    rate_limit: 2/minute\n") as (client, _):
        assert (await get_item(client)).status_code == 200
        assert (await get_item(client, OTHER_READER_KEY)).status_code == 200
        assert (await get_item(client, WRITER_KEY)).status_code == 429
        assert upstream.count() == 2


async def test_a_role_rule_shares_one_counter_per_role(tmp_path: Path, upstream: FaultyUpstream) -> None:
    extra = "rate_limits:\n  - {roles: [reader], key: [role], limit: 2/minute}\n"
    async with gateway(tmp_path, upstream, extra) as (client, _):
        assert (await get_item(client)).status_code == 200
        assert (await get_item(client, OTHER_READER_KEY)).status_code == 200
        assert (await get_item(client)).status_code == 429
        assert (await get_item(client, WRITER_KEY)).status_code == 200  # not a reader


async def test_a_principal_rule_only_applies_to_that_principal(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    extra = "rate_limits:\n  - {principals: [reader2], tools: [getItem], limit: 1/minute}\n"
    async with gateway(tmp_path, upstream, extra) as (client, _):
        assert (await get_item(client, OTHER_READER_KEY)).status_code == 200
        assert (await get_item(client, OTHER_READER_KEY)).status_code == 429
        assert [(await get_item(client)).status_code for _ in range(3)] == [200, 200, 200]


async def test_an_mcp_client_gets_a_tool_error_with_retry_after(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    port = free_port()
    config = write_config(
        tmp_path,
        upstream.url,
        port=port,
        extra=f"state: sqlite:///{tmp_path / 'state.db'}\ntools:\n  getItem: {{rate_limit: 1/minute}}\n",
    )
    with serving(config, port, ENV) as url:
        async with mcp_http_client(f"{url}/mcp", READER_KEY) as client:
            first = await client.call_tool("getItem", {"item_id": "7"})
            assert not first.is_error
            second = await client.call_tool("getItem", {"item_id": "7"})
            assert second.is_error
            problem = json.loads(second.content[0].text)  # type: ignore[union-attr]
            assert problem["code"] == "rate_limited" and 0 < problem["retry_after"] <= 60


def test_a_bad_rate_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:1", extra="tools:\n  getItem: {rate_limit: lots}\n")
    with pytest.raises(
        ConfigError, match=r"tools\.getItem\.rate_limit.*expected one rate such as '100/minute'"
    ):
        load_config(path, environ=ENV)


async def test_a_rule_naming_an_unknown_backend_is_a_config_error(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    with pytest.raises(ConfigError, match=r"rate_limits\[0\]\.backends: no backend named 'crm'"):
        async with gateway(tmp_path, upstream, "rate_limits:\n  - {backends: [crm], limit: 1/second}\n"):
            pass
