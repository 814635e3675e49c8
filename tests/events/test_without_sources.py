"""A gateway with no event source runs nothing in the background for events, and still answers
event requests at once (an empty page), never waiting on a reader that does not run."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.helpers.gateway import READER_KEY, bearer, gateway_for

pytestmark = pytest.mark.anyio


async def test_no_source_no_background_and_an_empty_page(tmp_path: Path) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:9") as (client, runtime):
        assert not runtime.config.settings.events.sources
        with anyio.fail_after(5):
            answer = await client.get("/v1/events", params={"wait": "200ms"}, headers=bearer(READER_KEY))
    assert answer.status_code == 200, answer.text
    assert answer.json()["events"] == []
