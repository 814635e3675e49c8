"""Attack: a body under the size limit but holding a million tiny values. Every stage walks the
arguments on the event loop (Cedar, secret scrubbing, the audit), so each such call cost seconds
of CPU and one agent sending a few in parallel stalled the gateway for every other agent."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.helpers.gateway import WRITER_KEY, bearer
from tests.helpers.processes import Served
from tests.helpers.raw_mcp import RawMcp, message_of
from tests.helpers.running import running_gateway

pytestmark = pytest.mark.e2e

WIDE = orjson.dumps({"body": [1] * 1_000_000})  # ~2 MB: under the 4 MiB body limit


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with running_gateway(tmp_path_factory.mktemp("wide")) as served:
        yield served


def test_rest_refuses_a_million_values_before_any_stage(gateway: Served) -> None:
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        response = client.post(
            "/v1/tools/postList:call",
            content=b'{"arguments":' + WIDE + b"}",
            headers=bearer(WRITER_KEY) | {"content-type": "application/json"},
        )
        assert response.status_code == 422, response.text[:300]
        problem = response.json()
        assert "more than 10000 values" in problem["detail"]
        assert problem["errors"][0]["path"] == "/"
        # Just under the bound still works: the bound is on values, not on legitimate lists.
        fine = client.post(
            "/v1/tools/postList:call",
            json={"arguments": {"body": list(range(9_999))}},
            headers=bearer(WRITER_KEY),
        )
        assert fine.status_code == 200, fine.text[:300]


def test_mcp_refuses_a_million_values_before_any_stage(gateway: Served) -> None:
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        answer = message_of(RawMcp(client, WRITER_KEY).call_raw("postList", WIDE))
        result = answer["result"]
        assert result["isError"] is True
        assert "more than 10000 values" in result["content"][0]["text"]
