"""An upstream MCP server that restarts (killed, started again: its new process knows none of
the gateway's sessions) is reconnected to on the next call, in both protocol eras: the SDK
server's 404 "Session not found" is a lost session, not a refusal."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.content_gateway import running_live_gateway
from tests.helpers.gateway import ENV, READER_KEY, write_config
from tests.helpers.servers import free_port
from tests.helpers.watched_upstream import UpstreamProcess

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28"])
async def test_a_call_after_the_upstream_restarted_reaches_its_new_process(
    tmp_path: Path, protocol: str
) -> None:
    upstream = UpstreamProcess(free_port())
    backends = f"  up:\n    mcp: {upstream.base}/mcp\n    prefix: up_\n    protocol: {protocol}\n"
    config = write_config(
        tmp_path, "http://127.0.0.1:9", backends=backends, extra="access:\n  reader: [up_pid]\n"
    )
    upstream.start()
    try:
        async with running_live_gateway(config, ENV) as (url, _), httpx.AsyncClient(base_url=url) as http:
            headers = {"Authorization": f"Bearer {READER_KEY}"}
            before = await http.post("/v1/tools/up_pid:call", json={}, headers=headers)
            assert before.status_code == 200, before.text
            upstream.kill()
            upstream.start()
            after = await http.post("/v1/tools/up_pid:call", json={}, headers=headers)
            assert after.status_code == 200, after.text
            assert after.json()["result"] != before.json()["result"]  # another process answered
    finally:
        upstream.kill()
