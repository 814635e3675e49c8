"""Identity-aware caching and fallbacks, seen from the agent and from the upstream."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import httpx
import pytest

from pasarela.assembly import Runtime
from pasarela.config import load_config
from pasarela.errors import ConfigError
from tests.helpers.faults import Answer, FaultyUpstream
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, bearer, gateway_for, sha, write_config

pytestmark = pytest.mark.anyio

OTHER_READER_KEY = "other-reader-key-0004"
OTHER_READER = f"""\
    - {{principal: reader2, key_sha256: "{sha(OTHER_READER_KEY)}", roles: [reader], attributes: {{region: EU}}}}
"""
NO_RETRY = "    retry: {attempts: 1}\n"
ARCHIVE = "  archive:\n    python: tests.resilience.archive_tools\n"


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream(Answer(200, {"id": "7", "name": "fresh"})) as server:
        yield server


def gateway(
    tmp_path: Path, upstream: FaultyUpstream, tools: str, extra: str = ""
) -> AbstractAsyncContextManager[tuple[httpx.AsyncClient, Runtime]]:
    return gateway_for(
        tmp_path,
        upstream.url,
        identity=OTHER_READER,
        items=NO_RETRY,
        backends=ARCHIVE,
        extra=f"tools:\n{tools}{extra}",
    )


async def call(
    client: httpx.AsyncClient, tool: str, key: str = READER_KEY, **arguments: str
) -> httpx.Response:
    return await client.post(f"/v1/tools/{tool}:call", json={"arguments": arguments}, headers=bearer(key))


async def test_a_hit_is_served_without_the_backend(tmp_path: Path, upstream: FaultyUpstream) -> None:
    async with gateway(tmp_path, upstream, "  getItem: {cache: {ttl: 5m}}\n") as (client, runtime):
        first = (await call(client, "getItem", item_id="7")).json()
        second = (await call(client, "getItem", item_id="7")).json()
        assert first["meta"]["cache"] == "miss" and first["meta"]["source"] == "items"
        assert second["meta"]["cache"] == "hit" and second["meta"]["source"] == "cache"
        assert second["meta"]["as_of"] == first["meta"]["as_of"], "when the backend produced it"
        # A cached answer names the system that produced it and when the copy was made.
        assert second["meta"]["backend"] == first["meta"]["backend"] == "items"
        assert first["meta"]["as_of"] <= second["meta"]["cached_at"], "stored once produced (ISO 8601, UTC)"
        assert "cached_at" not in first["meta"], "a fresh answer was not cached yet"
        assert second["result"] == first["result"]
        assert upstream.count() == 1
        hits = runtime.metrics.registry.get_sample_value(
            "pasarela_cache_lookups_total", {"backend": "items", "tool": "getItem", "result": "hit"}
        )
        assert hits == 1


async def test_other_arguments_are_another_entry(tmp_path: Path, upstream: FaultyUpstream) -> None:
    async with gateway(tmp_path, upstream, "  getItem: {cache: {ttl: 5m}}\n") as (client, _):
        await call(client, "getItem", item_id="7")
        assert (await call(client, "getItem", item_id="8")).json()["meta"]["cache"] == "miss"
        assert upstream.count() == 2


async def test_principal_scope_never_crosses_identities(tmp_path: Path, upstream: FaultyUpstream) -> None:
    async with gateway(tmp_path, upstream, "  getItem: {cache: {ttl: 5m}}\n") as (client, _):
        await call(client, "getItem", item_id="7")
        other = await call(client, "getItem", OTHER_READER_KEY, item_id="7")
        assert other.json()["meta"]["cache"] == "miss"
        assert upstream.count() == 2


async def test_tenant_scope_shares_within_the_tenant(tmp_path: Path, upstream: FaultyUpstream) -> None:
    tools = "  getItem: {cache: {ttl: 5m, scope: tenant, tenant_attribute: region}}\n"
    async with gateway(tmp_path, upstream, tools) as (client, _):
        await call(client, "getItem", item_id="7")
        same_region = await call(client, "getItem", OTHER_READER_KEY, item_id="7")
        assert same_region.json()["meta"]["cache"] == "hit"
        # The writer has no region: never served from, or written to, a tenant's cache.
        no_tenant = await call(client, "getItem", WRITER_KEY, item_id="7")
        assert no_tenant.json()["meta"]["cache"] == "bypass"
        assert upstream.count() == 2


async def test_ttl_zero_never_caches(tmp_path: Path, upstream: FaultyUpstream) -> None:
    async with gateway(tmp_path, upstream, "  getItem: {cache: {ttl: 0}}\n") as (client, _):
        for _ in range(3):
            assert "cache" not in (await call(client, "getItem", item_id="7")).json()["meta"]
        assert upstream.count() == 3


async def test_an_entry_expires_after_its_ttl(tmp_path: Path, upstream: FaultyUpstream) -> None:
    async with gateway(tmp_path, upstream, "  getItem: {cache: {ttl: 200ms}}\n") as (client, _):
        await call(client, "getItem", item_id="7")
        await anyio.sleep(0.3)
        assert (await call(client, "getItem", item_id="7")).json()["meta"]["cache"] == "miss"
        assert upstream.count() == 2


async def test_a_write_invalidates_what_it_declares(tmp_path: Path, upstream: FaultyUpstream) -> None:
    tools = "  getItem: {cache: {ttl: 5m}}\n  updateItem: {invalidates: [getItem]}\n"
    async with gateway(tmp_path, upstream, tools) as (client, _):
        await call(client, "getItem", item_id="7")
        updated = await client.post(
            "/v1/tools/updateItem:call",
            json={"arguments": {"item_id": "7", "name": "n"}},
            headers=bearer(WRITER_KEY),
        )
        assert updated.status_code == 200
        assert (await call(client, "getItem", item_id="7")).json()["meta"]["cache"] == "miss"
        assert upstream.count("/items/7") == 3


async def test_fallback_to_cache_serves_the_last_good_value_marked_stale(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    tools = "  getItem: {cache: {ttl: 100ms}, fallback: [cache]}\n"
    async with gateway(tmp_path, upstream, tools) as (client, runtime):
        fresh = (await call(client, "getItem", item_id="7")).json()
        await anyio.sleep(0.2)
        upstream.default = Answer(503)
        stale = await call(client, "getItem", item_id="7")
        assert stale.status_code == 200
        body = stale.json()
        assert body["result"] == fresh["result"]
        assert body["meta"]["cache"] == "stale" and body["meta"]["source"] == "cache"
        assert body["meta"]["as_of"] == fresh["meta"]["as_of"]
        assert body["meta"]["backend"] == "items" and body["meta"]["cached_at"] >= fresh["meta"]["as_of"]
        assert "items is unavailable" in body["meta"]["warning"]
        assert upstream.count() == 2
        used = runtime.metrics.registry.get_sample_value(
            "pasarela_fallbacks_total", {"backend": "items", "tool": "getItem", "fallback": "cache"}
        )
        assert used == 1
        # Another identity has no last good value of its own: it gets the error.
        other = await call(client, "getItem", OTHER_READER_KEY, item_id="7")
        assert other.status_code == 502
        assert other.json()["fallbacks_tried"] == ["cache"]


async def test_fallback_to_another_tool(tmp_path: Path, upstream: FaultyUpstream) -> None:
    upstream.default = Answer(503)
    tools = "  getItem: {fallback: [cache, item_archive], cache: {ttl: 1m}}\n"
    extra = "access:\n  reader: [getItem, item_archive]\n"
    async with gateway(tmp_path, upstream, tools, extra) as (client, _):
        response = await call(client, "getItem", item_id="7")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["result"] == {"id": "7", "from": "archive"}
        assert body["meta"]["fallback"] == "item_archive"
        assert body["meta"]["source"] == "archive"
        # The archive's answer is not stored as getItem's: once the system is back, it answers.
        upstream.default = Answer(200, {"id": "7", "name": "fresh"})
        recovered = (await call(client, "getItem", item_id="7")).json()
        assert recovered["meta"]["cache"] == "miss" and recovered["result"]["name"] == "fresh"


async def test_a_fallback_tool_the_principal_may_not_call_is_not_used(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    upstream.default = Answer(503)
    tools = "  getItem: {fallback: [item_archive]}\n"
    async with gateway(tmp_path, upstream, tools) as (client, _):
        response = await call(client, "getItem", item_id="7")
        assert response.status_code == 502
        assert response.json()["fallbacks_tried"] == ["item_archive"]


async def test_a_backend_answer_such_as_404_does_not_fall_back(
    tmp_path: Path, upstream: FaultyUpstream
) -> None:
    upstream.default = Answer(404)
    tools = "  getItem: {fallback: [item_archive]}\n"
    extra = "access:\n  reader: [getItem, item_archive]\n"
    async with gateway(tmp_path, upstream, tools, extra) as (client, _):
        assert (await call(client, "getItem", item_id="7")).status_code == 502


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        ("  createItem: {cache: {ttl: 1m}}\n", "tools.createItem.cache: only read-only tools are cached"),
        (
            "  getItem: {fallback: [cache]}\n",
            "tools.getItem.fallback[0]: `cache` needs this tool to be cached",
        ),
        (
            "  getItem: {fallback: [getItem]}\n",
            "tools.getItem.fallback[0]: a tool cannot be its own fallback",
        ),
        ("  getItem: {fallback: [nope]}\n", "tools.getItem.fallback[0]: no tool named 'nope'"),
        ("  getItem: {invalidates: [nope]}\n", "tools.getItem.invalidates[0]: no tool named 'nope'"),
        (
            "  getItem: {fallback: [item_archive]}\n  item_archive: {fallback: [getItem]}\n",
            "fallbacks loop: getItem → item_archive → getItem",
        ),
    ],
)
async def test_bad_cache_and_fallback_settings_are_config_errors(
    tmp_path: Path, upstream: FaultyUpstream, tools: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        async with gateway(tmp_path, upstream, tools):
            pass


def test_ttl_zero_with_stale_for_is_rejected(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, "http://127.0.0.1:1", extra="tools:\n  getItem: {cache: {ttl: 0, stale_for: 1h}}\n"
    )
    with pytest.raises(ConfigError, match="ttl: 0 means never cache"):
        load_config(path, environ=ENV)
