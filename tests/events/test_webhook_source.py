"""Webhooks from systems: each source authenticates its own way; bad signatures and malformed
payloads are refused with clear errors and nothing is stored; duplicates are stored once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import orjson
import pytest

from tests.events.support import (
    HMAC_SECRET,
    SOURCE_KEY,
    config_text,
    customer_updated,
    gateway,
    push,
    standard_signed,
    write,
)

pytestmark = pytest.mark.anyio


async def test_a_signed_event_is_stored_once_and_forgeries_never(state_url: str, tmp_path: Path) -> None:
    async with gateway(write(tmp_path, config_text(state_url))) as (client, runtime):
        body = orjson.dumps(customer_updated("12345", "EU", event_id="evt-1"))
        accepted = await push(client, "crm", body, standard_signed(body, "msg_1"))
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["stored"] is True
        again = await push(client, "crm", body, standard_signed(body, "msg_1"))
        assert (again.status_code, again.json()["duplicate"]) == (200, True), "same source and id: once"

        forged = standard_signed(body, "msg_2", secret="whsec_" + base64.b64encode(b"x" * 32).decode())
        refused = await push(client, "crm", body, forged)
        assert refused.status_code == 401 and "webhook-signature does not match" in refused.json()["detail"]
        altered = standard_signed(body, "msg_3")
        tampered = await push(client, "crm", body.replace(b"EU", b"US"), altered)
        assert tampered.status_code == 401
        old = await push(client, "crm", body, standard_signed(body, "msg_4", at=int(time.time()) - 3600))
        assert old.status_code == 401 and "webhook-timestamp" in old.json()["detail"]
        unsigned = await push(client, "crm", body, {"content-type": "application/json"})
        assert unsigned.status_code == 401 and "must be signed" in unsigned.json()["detail"]
        assert await runtime.events.log.count() == 1, "nothing refused was stored"
        [stored] = await runtime.events.log.read(0, 10)
        assert (stored.type, stored.id, stored.subject, stored.dataschema) == (
            "customer_updated",
            "evt-1",
            "12345",
            "customer_updated@1",
        )
        assert stored.data == {
            "customer_id": "12345",
            "region": "EU",
            "changed_fields": ["phone"],
            "phone": "+34 600 999 999",
        }


async def test_malformed_and_off_schema_payloads_are_refused_with_reasons(tmp_path: Path) -> None:
    async with gateway(write(tmp_path, config_text(f"sqlite:///{tmp_path / 's.db'}"))) as (client, runtime):
        cases = [
            (b"{not json", "not valid JSON"),
            (
                orjson.dumps({"event_type": "something_else", "event_id": "x"}),
                "no rule of events.sources.crm.events applies",
            ),
            (
                orjson.dumps({**customer_updated("1", "EU", event_id="e"), "region": "MARS"}),
                "does not satisfy customer_updated@1",
            ),
            (
                orjson.dumps({**customer_updated("1", "EU", event_id="e"), "timestamp": "yesterday"}),
                "expected a time in ISO 8601",
            ),
        ]
        for index, (body, reason) in enumerate(cases):
            answer = await push(client, "crm", body, standard_signed(body, f"m{index}"))
            assert answer.status_code == 422, (reason, answer.text)
            problem = answer.json()
            assert problem["code"] == "invalid_event" and reason in problem["detail"], problem
        off = orjson.dumps({**customer_updated("1", "EU", event_id="e"), "region": "MARS"})
        problem = (await push(client, "crm", off, standard_signed(off, "m9"))).json()
        assert problem["errors"] == [{"path": "/region", "message": problem["errors"][0]["message"]}]
        unknown = await push(client, "nowhere", b"{}", {})
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_event_source"
        assert await runtime.events.log.count() == 0


async def test_hmac_and_key_sources(tmp_path: Path) -> None:
    async with gateway(write(tmp_path, config_text(f"sqlite:///{tmp_path / 's.db'}"))) as (client, runtime):
        body = json.dumps({"id": "close-2026-11", "period": "2026-11"}).encode()
        signature = "sha256=" + hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).hexdigest()
        good = await push(client, "ledger", body, {"X-Hub-Signature-256": signature})
        assert good.status_code == 202, good.text
        bad = await push(client, "ledger", body + b" ", {"X-Hub-Signature-256": signature})
        assert bad.status_code == 401 and "does not match the body" in bad.json()["detail"]
        missing = await push(client, "ledger", body, {})
        assert missing.status_code == 401 and "x-hub-signature-256" in missing.json()["detail"]

        cloudevent = json.dumps(
            {
                "specversion": "1.0",
                "id": "b-1",
                "source": "/branches/madrid",
                "type": "branch_opened",
                "time": "2026-11-30T08:00:00Z",
                "data": {"branch": "madrid"},
            }
        ).encode()
        keyed = await push(
            client,
            "branch",
            cloudevent,
            {"X-Source-Key": SOURCE_KEY, "content-type": "application/cloudevents+json"},
        )
        assert keyed.status_code == 202, keyed.text
        wrong = await push(
            client,
            "branch",
            cloudevent,
            {"X-Source-Key": "guess", "content-type": "application/cloudevents+json"},
        )
        assert wrong.status_code == 401
        binary = await push(
            client,
            "branch",
            b'{"branch": "sevilla"}',
            {
                "X-Source-Key": SOURCE_KEY,
                "content-type": "application/json",
                "ce-specversion": "1.0",
                "ce-id": "b-2",
                "ce-source": "/branches/sevilla",
                "ce-type": "branch_opened",
            },
        )
        assert binary.status_code == 202, binary.text
        not_ce = await push(
            client,
            "branch",
            b'{"hello": 1}',
            {"X-Source-Key": SOURCE_KEY, "content-type": "application/json"},
        )
        assert not_ce.status_code == 422 and "must be a CloudEvent" in not_ce.json()["detail"]
        found = await runtime.events.log.read(0, 10)
        assert [(e.source, e.type, e.id, e.data) for e in found] == [
            ("ledger", "ledger_closed", "close-2026-11", {"id": "close-2026-11", "period": "2026-11"}),
            ("branch", "branch_opened", "b-1", {"branch": "madrid"}),
            ("branch", "branch_opened", "b-2", {"branch": "sevilla"}),
        ]
