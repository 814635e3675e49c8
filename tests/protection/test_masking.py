from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pasarela.assembly import build_runtime
from pasarela.config import load_config
from pasarela.errors import ConfigError
from pasarela.protection import MaskingRule, PathError, parse_path
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, bearer, in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen

RECORD: dict[str, Any] = {
    "id": "42",
    "name": "John Doe",
    "ssn": "123-45-6789",
    "contact": {"email": "john@example.com", "phone": None},
    "cards": [{"number": "4111111111111111", "brand": "visa"}, {"number": "5500000000000004", "brand": "mc"}],
    "notes": [{"ssn": "987-65-4321"}],
}


def test_fields_anywhere_and_paths() -> None:
    rule = MaskingRule.build(["ssn", "email"], ["cards[*].number", "contact.phone"], keep_last=4)
    original = copy.deepcopy(RECORD)
    masked, count = rule.apply(RECORD)
    assert original == RECORD, "the input is never changed"
    assert masked["ssn"] == "***6789"
    assert masked["notes"][0]["ssn"] == "***4321"
    assert masked["contact"] == {"email": "***.com", "phone": None}
    assert [c["number"] for c in masked["cards"]] == ["***1111", "***0004"]
    assert masked["cards"][0]["brand"] == "visa"
    assert count == 5


def test_whole_values_and_indexes() -> None:
    masked, count = MaskingRule.build(["contact"], ["cards[1]"]).apply(RECORD)
    assert masked["contact"] == "***"
    assert masked["cards"][0]["number"] == "4111111111111111"
    assert masked["cards"][1] == "***"
    assert count == 2


def test_missing_paths_are_ignored() -> None:
    assert MaskingRule.build([], ["nothing.here", "cards[9].number"]).apply(RECORD) == (RECORD, 0)


@pytest.mark.parametrize("path", ["", ".a", "a.", "a..b", "a[x]", "[", "a[*"])
def test_bad_paths(path: str) -> None:
    with pytest.raises(PathError):
        parse_path(path)


# -- through the gateway --------------------------------------------------------------------

REDACT = """tools:
  getItem:
    redact: {fields: [ssn, email], paths: ["cards[*].number"], keep_last: 4}
policies: |
  permit(principal in Role::"writer", action == Action::"unmask", resource == Tool::"getItem");
"""


@pytest.fixture
def record_upstream() -> Iterator[str]:
    def behaviour(seen: Seen) -> Reply:
        return Reply(500, RECORD) if seen.raw_path.endswith("/broken") else Reply(200, RECORD)

    with ThreadedServer(RecordingUpstream(behaviour)) as server:
        yield server.url


@pytest.mark.anyio
async def test_results_are_masked_unless_policy_permits_unmask(tmp_path: Path, record_upstream: str) -> None:
    config = write_config(tmp_path, record_upstream, extra=REDACT)
    async with in_process(config) as (client, _):
        reader = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "42"}}, headers=bearer(READER_KEY)
        )
        writer = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "42"}}, headers=bearer(WRITER_KEY)
        )
        failing = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "broken"}}, headers=bearer(READER_KEY)
        )
    masked = reader.json()
    assert masked["result"]["ssn"] == "***6789"
    assert masked["result"]["cards"][0]["number"] == "***1111"
    assert masked["meta"]["redacted"] == 5
    assert "123-45-6789" not in reader.text
    assert writer.json()["result"] == RECORD
    assert writer.json()["meta"]["redacted"] == 0
    assert failing.status_code == 502
    assert "123-45-6789" not in failing.text, "error bodies are masked too"
    assert failing.json()["upstream_body"]["ssn"] == "***6789"


@pytest.mark.anyio
async def test_bad_redact_paths_are_config_errors(tmp_path: Path, record_upstream: str) -> None:
    config = write_config(
        tmp_path, record_upstream, extra='tools:\n  getItem:\n    redact: {paths: ["cards[x]"]}\n'
    )
    with pytest.raises(ConfigError, match=r"tools.getItem.redact.paths\[0\]"):
        await build_runtime(load_config(config, environ=ENV))
