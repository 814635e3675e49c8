"""`pasarela webhooks deliveries | show | redeliver | enable` against a real outbox and receiver."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from tests.helpers.processes import run_pasarela
from tests.helpers.servers import ThreadedServer
from tests.webhooks.receiver import Answer, Received, Receiver
from tests.webhooks.support import ENV, config_text, loaded, status_is, wait_for, webhooks_on

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def pasarela(*args: str) -> tuple[int, str, str]:
    done = await anyio.to_thread.run_sync(lambda: run_pasarela("webhooks", *args, env=ENV))
    return done.returncode, done.stdout, done.stderr


def test_looking_at_deliveries_creates_no_state(tmp_path: Path) -> None:
    config = tmp_path / "pasarela.yaml"
    config.write_text(config_text("http://127.0.0.1:9", state="sqlite:///./state.db"))
    listed = run_pasarela("webhooks", "deliveries", "-c", str(config), env=ENV)
    assert (listed.returncode, listed.stdout, listed.stderr.strip()) == (0, "", "no deliveries")
    shown = run_pasarela("webhooks", "show", "whd_nothing", "-c", str(config), env=ENV)
    assert (shown.returncode, shown.stderr.strip()) == (1, "no delivery 'whd_nothing'")
    wrong = run_pasarela("webhooks", "deliveries", "--status", "lost", "-c", str(config), env=ENV)
    assert wrong.returncode == 2 and "expected one of pending, delivered, failed, disabled" in wrong.stderr
    assert not (tmp_path / "state.db").exists()


async def test_list_show_enable_and_redeliver(tmp_path: Path) -> None:
    gone = {"yes": True}

    def script(received: Received, seen: int) -> Answer:
        return Answer(410, body="no such subscriber") if gone["yes"] else Answer(200)

    receiver = Receiver(script)
    with ThreadedServer(receiver.app) as server:
        text = config_text(server.url, state=f"sqlite:///{tmp_path / 'state.db'}")
        config = tmp_path / "pasarela.yaml"
        config.write_text(text)
        c = ("-c", str(config))
        async with webhooks_on(loaded(text, tmp_path)) as hooks:
            [delivery] = await hooks.notify("beta", "report.ready", {"report": 42})
            await wait_for(hooks.state, delivery, status_is("disabled"))

            code, out, _ = await pasarela("deliveries", *c)
            assert (
                code == 0 and out.startswith(f"{delivery} ") and " b report.ready disabled attempts=1 " in out
            )
            code, out, _ = await pasarela("deliveries", "--json", "--endpoint", "b", *c)
            assert [json.loads(line)["id"] for line in out.splitlines()] == [delivery]
            code, out, _ = await pasarela("deliveries", "--json", "--status", "delivered", *c)
            assert (code, out) == (0, "")
            code, out, _ = await pasarela("show", delivery, *c)
            assert code == 0 and '"data":{"report":42}' in out
            assert "410 " in out and "HTTP 410: no such subscriber" in out

            code, _, err = await pasarela("redeliver", delivery, *c)
            assert code == 1 and "endpoint b is disabled" in err and "pasarela webhooks enable b" in err
            code, _, err = await pasarela("enable", "nowhere", *c)
            assert code == 1 and "no endpoint named 'nowhere'" in err

            gone["yes"] = False
            code, _, err = await pasarela("enable", "b", *c)
            assert (code, err.strip()) == (0, "b: enabled; 1 delivery(ies) pending again")
            found = await wait_for(hooks.state, delivery, status_is("delivered"))
            assert found["attempts"] == 2

            code, _, err = await pasarela("redeliver", delivery, *c)
            assert (code, err.strip()) == (0, f"{delivery}: pending, due now")
            found = await wait_for(hooks.state, delivery, lambda d: d["attempts"] == 3)
            assert found["status"] == "delivered"
            code, out, _ = await pasarela("show", delivery, "--json", *c)
            assert [a["status_code"] for a in json.loads(out)["attempt_log"]] == [410, 200, 200]
    assert len(set(receiver.ids())) == 1, "one webhook-id, however often it is sent"
