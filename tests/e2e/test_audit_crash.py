"""kill -9 under load: every write the gateway answered is in the trail (group commit)."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import anyio
import httpx
import pytest

from pasarela.audit import search, verify
from tests.audit.test_audit import KEY, store_for
from tests.helpers.gateway import ENV, WRITER_KEY, bearer, write_config
from tests.helpers.processes import served
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream, echo

pytestmark = pytest.mark.e2e
WORKERS = 16


def test_no_answered_write_is_missing_after_kill_9(tmp_path: Path) -> None:
    extra = f"""audit: {{checkpoint_key: "{KEY}"}}
state: sqlite:///{tmp_path / "state.db"}
"""
    answered: list[str] = []
    stop = threading.Event()

    def load(base: str) -> None:
        with httpx.Client(base_url=base, headers=bearer(WRITER_KEY), timeout=5) as client:
            while not stop.is_set():
                request_id = uuid.uuid4().hex
                try:
                    response = client.post(
                        "/v1/tools/createItem:call",
                        json={"arguments": {"name": request_id}},
                        headers={"X-Request-Id": request_id},
                    )
                except httpx.TransportError:
                    return  # the gateway is gone
                if response.status_code == 200:
                    answered.append(request_id)

    with ThreadedServer(RecordingUpstream(echo)) as upstream:
        config = write_config(tmp_path, upstream.url, extra=extra)
        with served(config, free_port(), ENV) as gateway:
            threads = [threading.Thread(target=load, args=(gateway.url,)) for _ in range(WORKERS)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30
            while len(answered) < 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            gateway.process.send_signal(signal.SIGKILL)  # no shutdown, no drain
            gateway.process.wait()
            stop.set()
            for thread in threads:
                thread.join()

    async def trail() -> tuple[set[str], bool, str]:
        store = await store_for(config)
        try:
            records = await search(store, tool="createItem", limit=100_000)
            verdict = await verify(store, KEY.encode())
        finally:
            await store.aclose()
        return {str(r["request_id"]) for r in records}, verdict.ok, verdict.message

    recorded, chain_ok, message = anyio.run(trail)
    assert len(answered) >= 300
    missing = [r for r in answered if r not in recorded]
    assert missing == [], f"{len(missing)} of {len(answered)} answered writes have no record"
    assert chain_ok, message
