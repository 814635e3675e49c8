"""An agent that stops waiting over REST stops the work done on its behalf."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import httpx
import pytest

from tests.helpers.gateway import ENV, WRITER_KEY, bearer, write_config
from tests.helpers.processes import serving
from tests.helpers.servers import free_port

pytestmark = pytest.mark.anyio

BACKENDS = "  steps:\n    python: tests.orchestration.step_tools\n"


def _recorded(state: Path, request_id: str) -> tuple[str, float] | None:
    with sqlite3.connect(state) as db:
        row = db.execute(
            "select outcome, latency_ms from pasarela_audit where request_id = ?", (request_id,)
        ).fetchone()
    return None if row is None else (row[0], row[1])


async def test_a_client_that_goes_away_cancels_its_call(tmp_path: Path) -> None:
    port, state = free_port(), tmp_path / "state.db"
    config = write_config(
        tmp_path,
        "http://127.0.0.1:9",
        port=port,
        backends=BACKENDS,
        extra=f"state: sqlite:///{state}\n",
    )
    with serving(config, port, ENV) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.post(
                    "/v1/tools/hold:call",
                    json={"arguments": {"seconds": 30}},
                    headers={**bearer(WRITER_KEY), "X-Request-Id": "gone-1"},
                    timeout=0.3,
                )
            with anyio.fail_after(10):
                while (recorded := _recorded(state, "gone-1")) is None:  # noqa: ASYNC110 - another process
                    await anyio.sleep(0.05)
            # The gateway still answers others as before.
            held = await http.post(
                "/v1/tools/hold:call", json={"arguments": {"seconds": 0}}, headers=bearer(WRITER_KEY)
            )
            assert held.status_code == 200, held.text
    outcome, latency_ms = recorded
    assert outcome == "cancelled"
    assert latency_ms < 5000, "stopped when the client left, not after the 30 s hold"
