"""Attack on result policies (ABAC on results): a result the caller may not read must not reach
it through an error body either. A backend record that breaks the tool's output schema (data
drift: one customer's phone stored as a number, a region nobody expected) was answered with a
502 whose `errors` quoted the offending values — before any result rule could look at them —
and the same values went to the log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.gateway import READER_KEY, bearer, in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen

pytestmark = pytest.mark.anyio

SECRET_PHONE = "+1 212 555 0104"
RECORD = {"id": "45678", "name": "Amara Okafor", "region": "US", "phone": SECRET_PHONE, "segment": "vip"}
EXTRA = """schemas:
  item@1:
    type: object
    required: [id, region]
    additionalProperties: false
    properties:
      id: {type: string}
      name: {type: string}
      region: {enum: [EU, US]}
      phone: {type: integer}
      segment: {enum: [retail, private]}
tools:
  getItem: {output: item@1}
policies: |
  @id("own-region-only")
  forbid(principal, action == Action::"read", resource)
  unless { principal has region && context.result has region && context.result.region == principal.region };
"""


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    def behaviour(seen: Seen) -> Reply:
        return Reply(200, RECORD)

    with ThreadedServer(RecordingUpstream(behaviour)) as upstream:
        yield write_config(tmp_path, upstream.url, extra=EXTRA)


async def test_a_contract_error_does_not_quote_the_result(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with in_process(config) as (client, _):
        response = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "45678"}}, headers=bearer(READER_KEY)
        )
    assert response.status_code == 502, response.text
    problem = response.json()
    assert problem["code"] == "upstream_contract"
    assert [e["path"] for e in problem["errors"]] == ["/phone", "/segment"]
    # The reason is there, the values are not: not in the answer, not in the log.
    text = json.dumps(problem)
    assert "integer" in text and "retail" in text
    for value in (SECRET_PHONE, "vip", "Amara"):
        assert value not in text
        assert value not in capsys.readouterr().out
