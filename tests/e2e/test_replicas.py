"""Two gateway processes sharing a real Redis agree on limits, breakers and cached results;
and a gateway keeps serving, as documented, while its Redis is down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pasarela.flow import BREAKER_SYNC_INTERVAL
from tests.conftest import FIXTURES, need_service
from tests.helpers.faults import Answer, FaultyUpstream
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, bearer, sha, write_config
from tests.helpers.processes import serving
from tests.helpers.redis_server import PrivateRedis
from tests.helpers.servers import free_port

pytestmark = pytest.mark.e2e

OTHER_READER_KEY = "other-reader-key-0004"
OTHER_READER = f"""\
    - {{principal: reader2, key_sha256: "{sha(OTHER_READER_KEY)}", roles: [reader]}}
"""


def config_for(directory: Path, upstream: str, flaky: str, shared: str) -> Path:
    directory.mkdir(exist_ok=True)
    flaky_backend = f"""\
  flaky:
    openapi: {FIXTURES / "openapi" / "items.yaml"}
    base_url: {flaky}
    retry: {{attempts: 1}}
    circuit_breaker: {{min_calls: 3, failure_ratio: 0.5, open_for: 5m}}
    tools: {{include: [getItem], rename: {{getItem: flaky_get}}}}
"""
    return write_config(
        directory,
        upstream,
        identity=OTHER_READER,
        backends=flaky_backend,
        extra=f"""\
state: sqlite:///{directory / "state.db"}
shared: {shared}
tools:
  searchItems: {{rate_limit: 5/minute}}
  getItem: {{cache: {{ttl: 5m}}}}
  createItem: {{rate_limit: 100/minute}}
access:
  reader: [getItem, searchItems, flaky_get]
  writer: ["*"]
""",
    )


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    need_service(None if server.binary else "redis-server is not installed")
    server.start()
    yield server
    server.stop()


def call(url: str, tool: str, arguments: dict[str, str], key: str = READER_KEY) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/tools/{tool}:call", json={"arguments": arguments}, headers=bearer(key), timeout=10
    )


def test_two_replicas_share_limits_breakers_and_cache(tmp_path: Path, private_redis: PrivateRedis) -> None:
    with (
        FaultyUpstream(Answer(200, {"id": "7"})) as upstream,
        FaultyUpstream(Answer(500, {"error": "down"})) as flaky,
    ):
        one = config_for(tmp_path / "one", upstream.url, flaky.url, private_redis.url)
        two = config_for(tmp_path / "two", upstream.url, flaky.url, private_redis.url)
        with serving(one, free_port(), ENV) as a, serving(two, free_port(), ENV) as b:
            # A limit of 5 per minute admits 5 calls across both replicas, not 5 each.
            statuses = [call(url, "searchItems", {}).status_code for url in [a, b] * 5]
            assert statuses.count(200) == 5 and statuses.count(429) == 5
            assert upstream.count() == 5

            # A value cached by one is served by the other, to the same principal only.
            first = call(a, "getItem", {"item_id": "7"}).json()
            second = call(b, "getItem", {"item_id": "7"}).json()
            assert first["meta"]["cache"] == "miss" and second["meta"]["cache"] == "hit"
            assert call(b, "getItem", {"item_id": "7"}, OTHER_READER_KEY).json()["meta"]["cache"] == "miss"
            assert upstream.count("/items/7") == 2

            # One principal failing alone is isolated on every replica; the other still passes.
            for _ in range(3):
                assert call(a, "flaky_get", {"item_id": "1"}).status_code == 502
            isolated = call(b, "flaky_get", {"item_id": "1"})
            assert isolated.json()["type"] == "urn:pasarela:problem:caller_circuit_open", isolated.text
            # A second principal failing too: once its own calls reach min_calls (the isolated
            # one's left the backend's window), the backend's breaker opens, for everyone...
            for _ in range(3):
                assert call(b, "flaky_get", {"item_id": "1"}, OTHER_READER_KEY).status_code == 502
            assert flaky.count() == 6
            refused = call(b, "flaky_get", {"item_id": "1"}, OTHER_READER_KEY)
            assert refused.json()["type"] == "urn:pasarela:problem:circuit_open", refused.text
            # ... on the other replica as well, once its last reading (0.1 s) has aged.
            time.sleep(BREAKER_SYNC_INTERVAL * 1.5)
            refused = call(a, "flaky_get", {"item_id": "1"})
            assert refused.status_code == 503
            assert refused.json()["type"] == "urn:pasarela:problem:circuit_open", refused.text
            assert flaky.count() == 6


def test_redis_outage_follows_on_store_error_and_recovers(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    with FaultyUpstream(Answer(200, {"id": "7"})) as upstream:
        config = config_for(tmp_path / "one", upstream.url, upstream.url, private_redis.url)
        with serving(config, free_port(), ENV) as url:
            assert call(url, "searchItems", {}).status_code == 200
            private_redis.stop()
            # Reads are allowed through, writes refused, by default; the gateway stays up.
            assert call(url, "searchItems", {}).status_code == 200
            refused = call(url, "createItem", {"name": "x"}, WRITER_KEY)
            assert refused.status_code == 429
            assert "shared store unavailable" in refused.json()["detail"]
            cached = call(url, "getItem", {"item_id": "7"})  # the cache is skipped, not fatal
            assert cached.status_code == 200
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            metrics = httpx.get(f"{url}/metrics", timeout=5).text
            assert (
                'pasarela_rate_limit_store_errors_total{policy="deny",rule="tools.createItem.rate_limit"}'
                in metrics
            )

            private_redis.start()
            assert call(url, "createItem", {"name": "x"}, WRITER_KEY).status_code == 200
            assert call(url, "getItem", {"item_id": "8"}).json()["meta"]["cache"] == "miss"
            assert call(url, "getItem", {"item_id": "8"}).json()["meta"]["cache"] == "hit"
