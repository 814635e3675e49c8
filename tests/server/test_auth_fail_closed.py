"""A bug while checking credentials fails closed: 401, never a 500 to an unauthenticated caller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pasarela.identity import Principal
from tests.helpers.gateway import READER_KEY, bearer, in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with ThreadedServer(RecordingUpstream()) as upstream:
        yield write_config(tmp_path, upstream.url)


async def test_an_authenticator_that_crashes_answers_401(config: Path) -> None:
    async def broken(authorization: str | None, on_behalf_of: str | None) -> Principal:
        raise KeyError("a bug")

    async with in_process(config) as (client, runtime):
        runtime.authenticator.authenticate_request = broken  # type: ignore[method-assign]
        rest = await client.get("/v1/tools", headers=bearer(READER_KEY))
        mcp = await client.post("/mcp", json={}, headers=bearer(READER_KEY))
    assert rest.status_code == 401
    assert rest.json()["detail"] == "the credentials could not be verified"
    assert rest.headers["www-authenticate"].startswith("Bearer")
    assert mcp.status_code == 401
    assert mcp.json()["error"]["message"] == "Authentication required: the credentials could not be verified"
