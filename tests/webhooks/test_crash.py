"""kill -9 of `pasarela serve` while deliveries are in flight: after a restart they are sent again
with the same webhook-id and recorded as delivered (at least once), and so is what was queued
while the gateway was down."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import anyio
import pytest
from standardwebhooks import Webhook

from tests.helpers.processes import served
from tests.helpers.servers import ThreadedServer, free_port
from tests.webhooks.receiver import Answer, Received, Receiver
from tests.webhooks.support import ENV, SECRET_B, config_text, loaded, status_is, wait_for, webhooks_on

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


HOLDING = {"on": True}


def hold_the_first(received: Received, seen: int) -> Answer:
    # Until the gateway is killed, each POST is held until long after it was.
    return Answer(200, delay=8.0) if HOLDING["on"] else Answer(200)


def wait_until(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


async def test_a_killed_gateway_delivers_after_restart_with_the_same_webhook_ids(tmp_path: Path) -> None:
    receiver = Receiver(hold_the_first)
    port = free_port()
    with ThreadedServer(receiver.app) as server:
        text = config_text(server.url, state=f"sqlite:///{tmp_path / 'state.db'}")
        text += f"server: {{host: 127.0.0.1, port: {port}}}\n"
        config_file = tmp_path / "pasarela.yaml"
        config_file.write_text(text)
        config = loaded(text, tmp_path)
        async with webhooks_on(config, deliver=False) as hooks:  # another process queues
            with served(config_file, port, ENV, log=tmp_path / "first.log") as gateway:
                ids = [(await hooks.notify("beta", "job.completed", {"n": n}))[0] for n in range(3)]
                await anyio.to_thread.run_sync(
                    lambda: wait_until(lambda: len(receiver.received) == 3, "the gateway sent all three")
                )
                gateway.process.kill()  # SIGKILL: no chance to record or give anything back
                gateway.process.wait()
                HOLDING["on"] = False
            for delivery in ids:
                found = await wait_for(hooks.state, delivery, lambda d: True)
                assert (found["status"], found["attempts"]) == ("pending", 0), "sent, never recorded"
            [queued_while_down] = await hooks.notify("beta", "job.failed", {"n": 3})

            with served(config_file, port, ENV, log=tmp_path / "second.log"):
                for delivery in [*ids, queued_while_down]:
                    found = await wait_for(hooks.state, delivery, status_is("delivered"), timeout=60)
                    assert found["attempts"] == 1, found["attempt_log"]
    counts = Counter(receiver.ids())
    assert len(counts) == 4
    assert sorted(counts.values()) == [1, 2, 2, 2], "the three in flight were sent again, once more"
    for received in receiver.received:
        Webhook(SECRET_B).verify(received.body, received.headers)
