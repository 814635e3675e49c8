"""Deliveries to a real receiver, verified with the `standardwebhooks` package: signed, retried,
Retry-After, 410 Gone, a spent schedule, redirects, other principals — on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from pasarela.webhooks import history
from tests.helpers.servers import ThreadedServer
from tests.webhooks.receiver import Answer, Received, Receiver
from tests.webhooks.support import SECRET_A, SECRET_B, config_text, loaded, status_is, wait_for, webhooks_on

pytestmark = pytest.mark.anyio


def verified(received: Received, secret: str) -> dict[str, object]:
    """The body as the receiver's verification library reads it; raises if the signature is wrong."""
    data = Webhook(secret).verify(received.body, received.headers)
    assert isinstance(data, dict)
    return data


async def test_a_delivery_is_signed_as_standard_webhooks_and_reaches_only_its_principals_endpoints(
    state_url: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    with ThreadedServer(receiver.app) as server:
        config = loaded(config_text(server.url, state=state_url), tmp_path)
        async with webhooks_on(config) as hooks:
            ids = await hooks.notify("alpha", "job.completed", {"job": "j1", "result": {"n": 1}})
            assert len(ids) == 1, "alpha has one endpoint subscribed to job.*"
            assert await hooks.notify("alpha", "customer.updated", {"id": "1"}) == [], "a: job.* only"
            assert await hooks.notify("gamma", "job.completed", {"job": "j2"}) == [], "no endpoint"
            found = await wait_for(hooks.state, ids[0], status_is("delivered"))
    assert [r.path for r in receiver.received] == ["/a"], "beta's endpoint received nothing of alpha's"
    data = verified(receiver.received[0], SECRET_A)
    assert data["type"] == "job.completed"
    assert data["data"] == {"job": "j1", "result": {"n": 1}}
    assert str(data["timestamp"]).endswith("Z")
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET_B).verify(receiver.received[0].body, receiver.received[0].headers)
    assert receiver.received[0].headers["webhook-id"] == found["message_id"]
    assert receiver.received[0].headers["content-type"] == "application/json"
    assert (found["attempts"], len(found["attempt_log"])) == (1, 1)
    assert found["delivered_at"] is not None and found["last_status"] == 200


async def test_a_500_is_retried_and_then_delivered_with_the_same_webhook_id(
    state_url: str, tmp_path: Path
) -> None:
    def twice_down(received: Received, seen: int) -> Answer:
        return Answer(500, body="database on fire") if seen <= 2 else Answer(204)

    receiver = Receiver(twice_down)
    with ThreadedServer(receiver.app) as server:
        config = loaded(config_text(server.url, state=state_url), tmp_path)
        async with webhooks_on(config) as hooks:
            [delivery] = await hooks.notify("beta", "report.ready", {"report": 7})
            found = await wait_for(hooks.state, delivery, status_is("delivered"))
    assert len(receiver.received) == 3
    assert len(set(receiver.ids())) == 1, "every attempt carries the same webhook-id"
    for received in receiver.received:
        verified(received, SECRET_B)  # each attempt signed afresh
    assert [a["status_code"] for a in found["attempt_log"]] == [500, 500, 204]
    assert found["attempt_log"][0]["error"] == "HTTP 500: database on fire", "a short excerpt is kept"
    assert found["attempt_log"][2]["error"] is None


async def test_retry_after_is_honoured_in_seconds_and_capped(state_url: str, tmp_path: Path) -> None:
    def busy(received: Received, seen: int) -> Answer:
        wait = "120" if received.path == "/a" else "999999"
        return Answer(503, headers={"Retry-After": wait})

    receiver = Receiver(busy)
    with ThreadedServer(receiver.app) as server:
        text = config_text(server.url, state=state_url, webhooks="  retry_after_max: 10m\n")
        config = loaded(text, tmp_path)
        async with webhooks_on(config) as hooks:
            before = time.time()
            [honoured] = await hooks.notify("alpha", "job.failed", {})
            [capped] = await hooks.notify("beta", "job.failed", {})
            first = await wait_for(hooks.state, honoured, lambda d: d["attempts"] and d["last_status"] == 503)
            second = await wait_for(hooks.state, capped, lambda d: d["attempts"] and d["last_status"] == 503)
            after = time.time()
    assert first["status"] == "pending"
    assert first["next_attempt_at"] >= before + 120, "not retried before the receiver's Retry-After"
    assert second["next_attempt_at"] <= after + 600, "a Retry-After beyond retry_after_max is capped"
    assert second["next_attempt_at"] >= before + 600
    assert len(receiver.received) == 2, "neither was tried again"


async def test_410_disables_the_endpoint_until_enabled_and_nothing_waiting_is_lost(
    state_url: str, tmp_path: Path
) -> None:
    from pasarela.webhooks.endpoint_state import enable_endpoint

    gone = {"yes": True}

    def maybe_gone(received: Received, seen: int) -> Answer:
        return Answer(410, body="unsubscribed") if gone["yes"] else Answer(200)

    receiver = Receiver(maybe_gone)
    with ThreadedServer(receiver.app) as server:
        config = loaded(config_text(server.url, state=state_url), tmp_path)
        async with webhooks_on(config) as hooks:
            [first] = await hooks.notify("beta", "x.one", {"n": 1})
            found = await wait_for(hooks.state, first, status_is("disabled"))
            [second] = await hooks.notify("beta", "x.two", {"n": 2})
            waiting = await history.delivery(hooks.state, second)
            assert waiting is not None and waiting["status"] == "disabled", "queued, held, not sent"
            assert len(receiver.received) == 1, "nothing more is sent to a gone endpoint"
            assert found["attempt_log"][0]["status_code"] == 410

            gone["yes"] = False
            was_disabled, requeued = await enable_endpoint(hooks.state, "b", time.time())
            assert (was_disabled, requeued) == (True, 2)
            hooks.wakeup.set()
            for delivery in (first, second):
                await wait_for(hooks.state, delivery, status_is("delivered"))
    assert sorted(str(verified(r, SECRET_B)["type"]) for r in receiver.received[1:]) == ["x.one", "x.two"]


async def test_a_spent_schedule_fails_the_delivery(state_url: str, tmp_path: Path) -> None:
    receiver = Receiver(lambda received, seen: Answer(502))
    with ThreadedServer(receiver.app) as server:
        config = loaded(config_text(server.url, state=state_url, schedule="[0s, 10ms, 10ms]"), tmp_path)
        async with webhooks_on(config) as hooks:
            [delivery] = await hooks.notify("beta", "job.failed", {})
            found = await wait_for(hooks.state, delivery, status_is("failed"))
            [again] = await hooks.notify("beta", "job.failed", {"after": "failure"})
            await wait_for(hooks.state, again, status_is("failed"))
    assert [a["status_code"] for a in found["attempt_log"]] == [502, 502, 502], (
        "one attempt per schedule entry"
    )
    assert found["last_status"] == 502 and found["delivered_at"] is None


async def test_timeouts_and_refused_connections_are_recorded_and_retried(
    state_url: str, tmp_path: Path
) -> None:
    receiver = Receiver(lambda received, seen: Answer(200, delay=3.0 if seen == 1 else 0.0))
    with ThreadedServer(receiver.app) as server:
        down = '    down: {principal: alpha, url: "http://127.0.0.1:9/x", secret: "${secret:HOOK_A}", events: ["*"]}\n'
        text = config_text(server.url, state=state_url, endpoints=down)
        config = loaded(text.replace("timeout: 2s}", "timeout: 300ms}"), tmp_path)
        async with webhooks_on(config) as hooks:
            slow, refused = await hooks.notify("alpha", "job.completed", {})
            found = await wait_for(hooks.state, slow, status_is("delivered"))
            nowhere = await wait_for(hooks.state, refused, status_is("failed"))
    assert found["attempt_log"][0]["status_code"] is None
    assert found["attempt_log"][0]["error"] == "no answer within 0.3s"
    assert all(a["status_code"] is None for a in nowhere["attempt_log"])
    assert "Connect" in nowhere["attempt_log"][0]["error"]


async def test_redirects_are_never_followed(state_url: str, tmp_path: Path) -> None:
    def redirect(received: Received, seen: int) -> Answer:
        if received.path == "/b":
            return Answer(307, headers={"Location": "/elsewhere"})
        return Answer(200)

    receiver = Receiver(redirect)
    with ThreadedServer(receiver.app) as server:
        config = loaded(config_text(server.url, state=state_url, schedule="[0s, 10ms]"), tmp_path)
        async with webhooks_on(config) as hooks:
            [delivery] = await hooks.notify("beta", "job.completed", {})
            found = await wait_for(hooks.state, delivery, status_is("failed"))
    assert receiver.at("/elsewhere") == [], "the redirect's target never saw the payload"
    assert len(receiver.at("/b")) == 2
    assert found["attempt_log"][0]["error"] == "HTTP 307: redirect not followed (Location: /elsewhere)"


async def test_notifying_twice_with_one_message_id_queues_once(state_url: str, tmp_path: Path) -> None:
    receiver = Receiver()
    with ThreadedServer(receiver.app) as server:
        config = loaded(config_text(server.url, state=state_url), tmp_path)
        async with webhooks_on(config) as hooks:
            first = await hooks.notify("beta", "job.completed", {"n": 1}, message_id="job_1.completed")
            second = await hooks.notify("beta", "job.completed", {"n": 1}, message_id="job_1.completed")
            assert first == second
            await wait_for(hooks.state, first[0], status_is("delivered"))
            with pytest.raises(ValueError, match="event type"):
                await hooks.notify("beta", "bad type!", {})
            with pytest.raises(ValueError, match="message id"):
                await hooks.notify("beta", "job.completed", {}, message_id="no spaces allowed")
    assert receiver.ids() == ["job_1.completed"]


async def test_an_answer_is_kept_only_as_a_short_excerpt_with_secrets_masked(
    state_url: str, tmp_path: Path
) -> None:
    echo = f"you sent {SECRET_B} signed with {SECRET_B.removeprefix('whsec_')} " + "x" * 5000
    receiver = Receiver(lambda received, seen: Answer(400, body=echo))
    with ThreadedServer(receiver.app) as server:
        config = loaded(config_text(server.url, state=state_url, schedule="[0s]"), tmp_path)
        async with webhooks_on(config) as hooks:
            [delivery] = await hooks.notify("beta", "job.completed", {})
            found = await wait_for(hooks.state, delivery, status_is("failed"))
    error = found["attempt_log"][0]["error"]
    assert error.startswith("HTTP 400: you sent *** signed with *** xxx")
    assert SECRET_B not in error and SECRET_B.removeprefix("whsec_") not in error
    assert len(error) <= len("HTTP 400: ") + 200
