"""A finished job is told to its owner's webhook endpoints, signed per Standard Webhooks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest
from standardwebhooks import Webhook

from tests.helpers.gateway import READER_KEY, bearer, gateway_for
from tests.helpers.servers import ThreadedServer
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import SECRET_A

pytestmark = pytest.mark.anyio

BACKENDS = "  jobs:\n    python: tests.jobs.job_tools\n"


async def test_a_completed_and_a_failed_job_reach_the_owners_endpoint(tmp_path: Path) -> None:
    receiver = Receiver()
    with ThreadedServer(receiver.app) as hooks:
        extra = f"""jobs: {{workers: 2, poll_interval: 50ms}}
webhooks:
  poll_interval: 50ms
  endpoints:
    reader-inbox: {{principal: reader, url: "{hooks.url}/inbox", secret: "{SECRET_A}", events: ["job.*"]}}
    writer-inbox: {{principal: writer, url: "{hooks.url}/other", secret: "{SECRET_A}", events: ["*"]}}
access:
  reader: [apply_once, refuse]
  writer: ["*"]
"""
        async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=extra) as (client, _):
            ids = []
            for tool, arguments in (("apply_once", {"amount": 3}), ("refuse", {"reason": "no"})):
                started = await client.post(
                    f"/v1/tools/{tool}:start", json={"arguments": arguments}, headers=bearer(READER_KEY)
                )
                ids.append(started.json()["job"]["id"])
            with anyio.fail_after(15):
                while len(receiver.at("/inbox")) < 2:  # noqa: ASYNC110 - another server's state
                    await anyio.sleep(0.05)
    verifier = Webhook(SECRET_A)
    events = {}
    for delivery in receiver.at("/inbox"):
        verifier.verify(delivery.body, delivery.headers)  # raises if the signature is wrong
        body = json.loads(delivery.body)
        events[body["data"]["id"]] = (body["type"], body["data"], delivery.webhook_id)
    completed, failed = events[ids[0]], events[ids[1]]
    assert completed[0] == "job.completed" and completed[1]["result"]["applied"] == 3
    assert completed[2] == f"{ids[0]}.completed", "one webhook-id per job and ending"
    assert failed[0] == "job.failed" and failed[1]["problem"]["code"] == "upstream_error"
    assert receiver.at("/other") == [], "another principal's endpoint hears nothing of it"
    assert time.time() - 60 < int(receiver.at("/inbox")[0].headers["webhook-timestamp"])
