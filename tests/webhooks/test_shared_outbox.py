"""Several delivery loops on one PostgreSQL outbox (replicas, workers): each delivery is sent once,
and a loop is woken by LISTEN/NOTIFY when another process queues."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import anyio
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from pasarela.state.tables import webhook_deliveries
from pasarela.telemetry import GatewayMetrics
from pasarela.webhooks import Webhooks
from tests.conftest import POSTGRES_URL, _reset_postgres, need_service
from tests.helpers.servers import ThreadedServer
from tests.webhooks.receiver import Answer, Receiver
from tests.webhooks.support import SECRET_B, config_text, loaded, status_is, wait_for, webhooks_on

pytestmark = pytest.mark.anyio

SLOW_POLL = "  poll_interval: 60s\n"  # longer than any wait here: only NOTIFY can wake the loops


@pytest.fixture
def postgres_url() -> str:
    need_service(anyio.run(_reset_postgres, POSTGRES_URL))
    return POSTGRES_URL


def sent(metrics: GatewayMetrics) -> float:
    return sum(
        sample.value
        for metric in metrics.webhook_deliveries.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_two_loops_on_one_postgresql_deliver_each_delivery_once(
    postgres_url: str, tmp_path: Path
) -> None:
    receiver = Receiver(lambda received, seen: Answer(200, delay=0.002))
    with ThreadedServer(receiver.app) as server:
        text = config_text(server.url, state=postgres_url).replace("  poll_interval: 50ms\n", SLOW_POLL)
        config = loaded(text, tmp_path)
        first, second = GatewayMetrics(), GatewayMetrics()
        async with webhooks_on(config, metrics=first) as one, webhooks_on(config, metrics=second) as two:
            ids: list[str] = []
            for n in range(200):
                ids += await (one if n % 2 else two).notify("beta", "job.completed", {"n": n})
            deadline = time.monotonic() + 60
            while await _delivered(one) < 200:
                assert time.monotonic() < deadline, f"only {await _delivered(one)} of 200 delivered"
                await anyio.sleep(0.1)
    counts = Counter(receiver.ids())
    assert len(counts) == 200, "every delivery arrived"
    assert set(counts.values()) == {1}, f"sent twice: {[i for i, c in counts.items() if c > 1]}"
    assert sent(first) + sent(second) == 200
    assert sent(first) > 0 and sent(second) > 0, "both loops took a share"
    Webhook(SECRET_B).verify(receiver.received[-1].body, receiver.received[-1].headers)
    assert len(ids) == 200


async def _delivered(hooks: Webhooks) -> int:
    async with hooks.state.engine.connect() as db:
        found = await db.execute(select(func.count()).where(webhook_deliveries.c.status == "delivered"))
        return int(found.scalar() or 0)


async def test_a_loop_is_woken_by_notify_from_another_process(postgres_url: str, tmp_path: Path) -> None:
    receiver = Receiver()
    with ThreadedServer(receiver.app) as server:
        text = config_text(server.url, state=postgres_url).replace("  poll_interval: 50ms\n", SLOW_POLL)
        config = loaded(text, tmp_path)
        async with webhooks_on(config) as delivering, webhooks_on(config, deliver=False) as queueing:
            await anyio.sleep(0.5)  # the loop has looked once and sleeps for its 60 s poll
            [delivery] = await queueing.notify("beta", "job.completed", {})
            await wait_for(delivering.state, delivery, status_is("delivered"), timeout=30)
    assert len(receiver.received) == 1
