"""Our small signer against the `standardwebhooks` package; Retry-After; what an attempt leads to."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from pasarela.config.webhooks import secret_key
from pasarela.webhooks.outbox import Attempt
from pasarela.webhooks.retries import decide, parse_retry_after
from pasarela.webhooks.signing import envelope, signed_headers
from tests.webhooks.support import SECRET_A, SECRET_B

SCHEDULE = [0.0, 5.0, 300.0]


@given(
    message_id=st.from_regex(r"[A-Za-z0-9_.:-]{1,60}", fullmatch=True),
    payload=st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=20)), max_size=4),
)
def test_every_signature_verifies_with_the_standard_library(
    message_id: str, payload: dict[str, object]
) -> None:
    body = envelope("job.completed", payload, time.time())
    headers = signed_headers(secret_key(SECRET_A), message_id, int(time.time()), body)
    assert Webhook(SECRET_A).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET_B).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET_A).verify(body + b" ", headers)


def test_an_old_timestamp_is_refused_by_receivers() -> None:
    body = envelope("job.completed", {}, time.time())
    stale = signed_headers(secret_key(SECRET_A), "msg_1", int(time.time()) - 600, body)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET_A).verify(body, stale)


def test_the_body_is_type_timestamp_data() -> None:
    body = json.loads(envelope("job.failed", {"job": "j"}, 1_800_000_000.5))
    assert body == {"type": "job.failed", "timestamp": "2027-01-15T08:00:00.500Z", "data": {"job": "j"}}


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = time.time()
    assert parse_retry_after("120", now) == 120.0
    when = email.utils.format_datetime(dt.datetime.fromtimestamp(now + 90, dt.UTC), usegmt=True)
    seconds = parse_retry_after(when, now)
    assert seconds is not None and 88 <= seconds <= 90
    past = email.utils.format_datetime(dt.datetime.fromtimestamp(now - 90, dt.UTC), usegmt=True)
    assert parse_retry_after(past, now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None


def attempt(code: int | None, retry_after: float | None = None) -> Attempt:
    return Attempt(0.0, 1.0, code, None if code and code < 300 else f"HTTP {code}", retry_after)


def test_what_an_attempt_leads_to() -> None:
    assert decide(1, attempt(204), SCHEDULE, 3600, 100).status == "delivered"
    gone = decide(1, attempt(410), SCHEDULE, 3600, 100)
    assert (gone.status, gone.reason) == ("disabled", "the receiver answered HTTP 410")
    assert (decide(1, attempt(500), SCHEDULE, 3600, 100).next_attempt_at) == 105
    assert (decide(2, attempt(None), SCHEDULE, 3600, 100).next_attempt_at) == 400
    assert decide(3, attempt(500), SCHEDULE, 3600, 100).status == "failed", "every attempt is spent"
    assert decide(1, attempt(429, 60), SCHEDULE, 3600, 100).next_attempt_at == 160, "Retry-After wins"
    assert decide(2, attempt(429, 1), SCHEDULE, 3600, 100).next_attempt_at == 400, "... never sooner"
    assert decide(1, attempt(503, 10**6), SCHEDULE, 3600, 100).next_attempt_at == 3700, "... capped"
    assert decide(1, attempt(307), SCHEDULE, 3600, 100).status == "pending", "a redirect is a failure"
