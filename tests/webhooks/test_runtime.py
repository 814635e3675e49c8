"""Webhooks in the gateway: `Runtime.webhooks`, the loop started by the app's lifespan and moved
to the new endpoints on reload, and the metrics at /metrics."""

from __future__ import annotations

import re
import time
from pathlib import Path

import anyio
import httpx
import pytest
from standardwebhooks import Webhook

from pasarela.assembly import build_runtime
from pasarela.server import create_app
from pasarela.server.live import LiveRuntime
from tests.helpers.servers import ThreadedServer
from tests.webhooks.receiver import Answer, Received, Receiver
from tests.webhooks.support import SECRET_B, config_text, loaded, status_is, wait_for

pytestmark = pytest.mark.anyio


def metric(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return None if match is None else float(match.group(1))


async def test_the_gateway_delivers_what_its_runtime_is_notified_of_and_exports_metrics(
    tmp_path: Path,
) -> None:
    def script(received: Received, seen: int) -> Answer:
        return Answer(503, headers={"Retry-After": "3600"}) if received.path == "/a" else Answer(200)

    receiver = Receiver(script)
    with ThreadedServer(receiver.app) as server:
        config = loaded(config_text(server.url, state=f"sqlite:///{tmp_path / 'state.db'}"), tmp_path)
        runtime = await build_runtime(config)
        app = create_app(runtime)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway") as client,
        ):
            [done] = await runtime.webhooks.notify("beta", "job.completed", {"job": "j1"})
            [waiting] = await runtime.webhooks.notify("alpha", "job.completed", {"job": "j2"})
            await wait_for(runtime.state, done, status_is("delivered"))
            await wait_for(runtime.state, waiting, lambda d: d["last_status"] == 503)
            deadline = time.monotonic() + 30
            while True:  # the depth gauges are read from the outbox every few seconds
                text = (await client.get("/metrics")).text
                depths = [metric(text, "pasarela_webhook_outbox_depth", endpoint=e) for e in ("a", "b")]
                if depths == [1.0, 0.0]:  # a reading taken after b's delivery
                    break
                assert time.monotonic() < deadline, text
                await anyio.sleep(0.2)
    assert metric(text, "pasarela_webhook_deliveries_total", endpoint="b", outcome="delivered") == 1.0
    assert metric(text, "pasarela_webhook_deliveries_total", endpoint="a", outcome="retrying") == 1.0
    assert metric(text, "pasarela_webhook_attempt_duration_seconds_count", endpoint="b") == 1.0
    assert metric(text, "pasarela_webhook_outbox_depth", endpoint="b") == 0.0
    assert (metric(text, "pasarela_webhook_oldest_pending_age_seconds", endpoint="a") or -1) >= 0
    assert sorted(r.path for r in receiver.received) == ["/a", "/b"]
    assert not runtime.webhooks.running, "the lifespan stopped the loop"


async def test_a_reload_moves_delivery_to_the_new_endpoints(tmp_path: Path) -> None:
    receiver = Receiver()
    with ThreadedServer(receiver.app) as server:
        text = config_text(server.url, state=f"sqlite:///{tmp_path / 'state.db'}")
        live = LiveRuntime(await build_runtime(loaded(text, tmp_path)))
        try:
            await live.start_delivery()
            old = live.runtime
            assert old.webhooks.running
            moved = text.replace(f"{server.url}/b", f"{server.url}/moved")
            assert await live.reload(lambda: loaded(moved, tmp_path)) is old
            assert live.runtime.webhooks is not old.webhooks
            assert live.runtime.webhooks.running and not old.webhooks.running
            [delivery] = await live.runtime.webhooks.notify("beta", "job.completed", {})
            await wait_for(live.runtime.state, delivery, status_is("delivered"))
            same = await live.reload(lambda: loaded(moved, tmp_path))
            assert same is not None and live.runtime.webhooks is same.webhooks, "unchanged: kept running"
        finally:
            await live.aclose()
    assert [r.path for r in receiver.received] == ["/moved"]
    Webhook(SECRET_B).verify(receiver.received[0].body, receiver.received[0].headers)
