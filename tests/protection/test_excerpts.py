"""Backend error bodies are redacted before they are cut short: no secret prefix at the cut."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pasarela.connectors.openapi.connector import MAX_ERROR_BODY
from pasarela.secrets import Redactor
from tests.helpers.gateway import BACKEND_TOKEN, READER_KEY, bearer, gateway_for
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen

SECRET = "s3cr3t-value-0123456789"


@pytest.mark.parametrize("cut", [1, 5, len(SECRET) - 1])
def test_a_secret_straddling_the_cut_leaves_no_prefix(cut: int) -> None:
    redactor = Redactor([SECRET])
    text = "x" * (100 - cut) + SECRET + "tail"
    shown = redactor.excerpt(text, 100)
    assert len(shown) <= 100
    assert SECRET[:cut] not in shown
    assert redactor.excerpt(text.encode(), 100) == shown, "bytes are decoded first"


def test_a_huge_body_is_read_only_as_far_as_needed() -> None:
    redactor = Redactor([SECRET])
    assert redactor.excerpt("é" * 10_000_000, 10) == "é" * 10
    assert Redactor().excerpt("abc", 2) == "ab"


@pytest.fixture
def echoing_upstream() -> Iterator[str]:
    def behaviour(seen: Seen) -> Reply:
        # The credential lands exactly across the point where the error body is cut short.
        body = "e" * (MAX_ERROR_BODY - 8) + BACKEND_TOKEN
        return Reply(500, body)

    with ThreadedServer(RecordingUpstream(behaviour)) as upstream:
        yield upstream.url


@pytest.mark.anyio
async def test_an_openapi_error_body_cut_at_a_secret_shows_none_of_it(
    tmp_path: Path, echoing_upstream: str
) -> None:
    async with gateway_for(tmp_path, echoing_upstream) as (client, _):
        failing = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
        )
    assert failing.status_code == 502
    assert BACKEND_TOKEN[:8] not in failing.text
