"""Events delivered to registered webhook endpoints, verified with the `standardwebhooks` package:
each endpoint gets what its principal may receive (Cedar per event, redaction), signed, with the
CloudEvent as `data` and `webhook-id: evt.<sequence>`."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.events.support import config_text, customer_updated, gateway, push, standard_signed, write
from tests.helpers.servers import ThreadedServer
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.anyio

EU_HOOK = "whsec_" + base64.b64encode(b"e" * 32).decode()
AUDIT_HOOK = "whsec_" + base64.b64encode(b"u" * 32).decode()


def endpoints(url: str) -> str:
    return f"""webhooks:
  retry_schedule: [0s, 50ms]
  poll_interval: 50ms
  endpoints:
    eu-desk: {{principal: support-eu, url: "{url}/eu", secret: "{EU_HOOK}", events: ["customer_*"], timeout: 2s}}
    audit: {{principal: auditor, url: "{url}/audit", secret: "{AUDIT_HOOK}", events: ["*"], timeout: 2s}}
    nobody: {{principal: outsider, url: "{url}/outsider", secret: "{AUDIT_HOOK}", events: ["*"], timeout: 2s}}
"""


async def test_events_reach_the_endpoints_of_principals_that_may_receive_them(
    state_url: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    async with gateway(write(tmp_path, config_text(state_url))) as (client, _):  # before any endpoint
        old = orjson.dumps(customer_updated("12345", "EU", event_id="before"))
        assert (await push(client, "crm", old, standard_signed(old, "m-before"))).status_code == 202
    with ThreadedServer(receiver.app) as server:
        text = config_text(state_url, webhooks=endpoints(server.url))
        # Pushed at once after the start: news, however soon the fan-out first runs.
        async with gateway(write(tmp_path, text)) as (client, _):
            for n, (customer, region) in enumerate([("67890", "US"), ("12345", "EU")]):
                body = orjson.dumps(
                    customer_updated(customer, region, event_id=f"w{n}", phone="+34 600 123 456")
                )
                assert (await push(client, "crm", body, standard_signed(body, f"m-w{n}"))).status_code == 202
            with anyio.fail_after(20):
                while len(receiver.at("/audit")) < 2 or not receiver.at("/eu"):  # noqa: ASYNC110 - another thread records
                    await anyio.sleep(0.05)
            await anyio.sleep(0.5)  # anything else would have been sent by now

    def verified(secret: str, path: str) -> list[dict[str, Any]]:
        found = []
        for delivery in receiver.at(path):
            payload = Webhook(secret).verify(
                delivery.body, delivery.headers
            )  # raises when the signature is wrong
            assert payload["type"] == "customer_updated"
            assert delivery.webhook_id == f"evt.{payload['data']['sequence']}"
            found.append(payload["data"])
        return found

    audited = verified(AUDIT_HOOK, "/audit")
    assert [e["subject"] for e in audited] == ["67890", "12345"], "everything since the start, in order"
    assert "before" not in [e["id"] for e in audited], "what came before the first start is history"
    assert audited[1]["data"]["phone"] == "+34 600 123 456", "auditors may unmask"
    [eu] = verified(EU_HOOK, "/eu")
    assert (eu["subject"], eu["specversion"], eu["source"]) == ("12345", "1.0", "urn:pasarela:source:crm")
    assert eu["data"]["phone"].endswith("56") and "123" not in eu["data"]["phone"], "redacted for support"
    assert not receiver.at("/outsider"), "a principal that may not subscribe gets nothing"
    with pytest.raises(WebhookVerificationError):  # another endpoint's secret
        Webhook(EU_HOOK).verify(receiver.at("/audit")[0].body, receiver.at("/audit")[0].headers)
