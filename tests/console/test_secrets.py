"""No secret is ever rendered: backend credentials, API keys, the audit and session keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.gateway import (
    BACKEND_TOKEN,
    READER_KEY,
    SECRETS,
    WRITER_KEY,
    audit_rows,
    bearer,
    console_app,
    console_config,
    csrf_of,
    log_in,
)
from tests.console.test_access import PAGES
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with ThreadedServer(RecordingUpstream()) as server:
        # The backend's address carries a password too: only the gateway may know it.
        url = server.url.replace("http://", f"http://svc:{BACKEND_TOKEN}@")
        yield console_config(tmp_path, url, extra='console: {session_key: "${secret:SESSION_KEY}"}\n')


async def test_no_page_shows_a_secret_even_when_an_agent_or_operator_types_one(config: Path) -> None:
    async with console_app(config) as client:
        # An agent passes credentials as arguments; the audit trail and the console mask them.
        await client.post(
            "/v1/tools/greet:call",
            json={"arguments": {"name": f"{BACKEND_TOKEN} and {WRITER_KEY}"}},
            headers=bearer(READER_KEY),
        )
        await log_in(client)
        token = csrf_of((await client.get("/admin/policies")).text)
        explained = await client.post(
            "/admin/policies/explain",
            data={
                "csrf": token,
                "principal": "reader",
                "tool": "greet",
                "door": "rest",
                "arguments": f'{{"name": "{BACKEND_TOKEN}"}}',
            },
        )
        assert "***" in explained.text
        shown = [explained.text, await audit_rows(client, "tool=greet", "greet", 2)]
        for path in PAGES:
            response = await client.get(path)
            assert response.status_code == 200
            shown.append(response.text)
        shown.append((await client.get("/admin/login")).text)
        for html in shown:
            for secret in SECRETS:
                assert secret not in html
        backends = shown[2 + PAGES.index("/admin/backends")]
        assert "http://127.0.0.1:" in backends and "svc:" not in backends  # the address, no userinfo
