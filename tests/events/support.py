"""Configurations and helpers for the events tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx

from pasarela.assembly import Runtime, build_runtime
from pasarela.config import load_config
from pasarela.server import create_app
from pasarela.server.live import LiveRuntime
from tests.helpers.gateway import sha

SUPPORT_EU_KEY = "support-eu-key-000001"
SUPPORT_US_KEY = "support-us-key-000002"
AUDITOR_KEY = "auditor-key-00000003"
OUTSIDER_KEY = "outsider-key-0000004"
CRM_SECRET = "whsec_" + base64.b64encode(b"crm-events-secret-32-bytes-long!").decode()
HMAC_SECRET = "ledger-hmac-key"
SOURCE_KEY = "branch-source-key-0001"
ENV = {
    "TEST_SECRET_CRM_EVENTS": CRM_SECRET,
    "TEST_SECRET_LEDGER_HMAC": HMAC_SECRET,
    "TEST_SECRET_BRANCH_KEY": SOURCE_KEY,
}

POLICIES = """
  @id("support-subscribes-to-customers")
  permit(principal in Role::"support", action == Action::"subscribe", resource == EventType::"customer_updated");

  @id("auditors-subscribe-to-everything")
  permit(principal in Role::"auditor", action in [Action::"subscribe", Action::"unmask"], resource);

  @id("support-receives-its-own-region")
  forbid(principal in Role::"support", action == Action::"receive", resource == EventType::"customer_updated")
  unless { principal has region && context.event.data has region && context.event.data.region == principal.region };
"""


def config_text(state: str, *, shared: str = "memory://", extra_sources: str = "", webhooks: str = "") -> str:
    return f"""\
version: 1
state: {state}
shared: {shared}
secrets: [{{env: {{prefix: TEST_SECRET_}}}}]
audit: {{enabled: false}}
identity:
  api_keys:
    - {{principal: support-eu, key_sha256: "{sha(SUPPORT_EU_KEY)}", roles: [support], attributes: {{region: EU}}}}
    - {{principal: support-us, key_sha256: "{sha(SUPPORT_US_KEY)}", roles: [support], attributes: {{region: US}}}}
    - {{principal: auditor, key_sha256: "{sha(AUDITOR_KEY)}", roles: [auditor]}}
    - {{principal: outsider, key_sha256: "{sha(OUTSIDER_KEY)}", roles: []}}
backends:
  crm:
    python: tests.events.crm_tools
access:
  support: [get_customer]
  auditor: [get_customer]
tools:
  get_customer:
    cache:
      ttl: 5m
      invalidate_on:
        - {{event: customer_updated, arguments: {{customer_id: data.customer_id}}}}
schemas:
  customer_updated@1:
    type: object
    required: [customer_id, region, changed_fields]
    properties:
      customer_id: {{type: string}}
      region: {{enum: [EU, US, APAC]}}
      changed_fields: {{type: array, items: {{type: string}}}}
      phone: {{type: [string, "null"]}}
events:
  poll_interval: 200ms
  types:
    customer_updated:
      redact: {{fields: [phone], keep_last: 2}}
  sources:
    crm:
      webhook: {{auth: standard_webhooks, secret: "${{secret:CRM_EVENTS}}"}}
      events:
        - type: customer_updated
          when: "event_type == 'customer_updated'"
          id: event_id
          subject: customer_id
          time: timestamp
          data: "{{customer_id: customer_id, region: region, changed_fields: changed_fields, phone: phone}}"
          schema: customer_updated@1
    ledger:
      webhook: {{auth: hmac, secret: "${{secret:LEDGER_HMAC}}", header: X-Hub-Signature-256, prefix: "sha256="}}
      events:
        - {{type: ledger_closed, id: id, data: "@"}}
    branch:
      webhook: {{auth: key, secret: "${{secret:BRANCH_KEY}}"}}
{extra_sources}{webhooks}policies: |
{POLICIES}
"""


def customer_updated(
    customer_id: str, region: str, *, event_id: str, phone: str = "+34 600 999 999"
) -> dict[str, object]:
    return {
        "event_type": "customer_updated",
        "event_id": event_id,
        "customer_id": customer_id,
        "region": region,
        "changed_fields": ["phone"],
        "phone": phone,
        "timestamp": "2026-11-30T10:00:00Z",
    }


def standard_signed(
    body: bytes, message_id: str, secret: str = CRM_SECRET, at: int | None = None
) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = base64.b64encode(
        hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,{signature.decode()}",
        "content-type": "application/json",
    }


async def push(
    client: httpx.AsyncClient, source: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(f"/v1/events/{source}", content=body, headers=headers)


def write(directory: Path, text: str) -> Path:
    path = directory / "pasarela.yaml"
    path.write_text(text)
    return path


@asynccontextmanager
async def gateway(config: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The whole ASGI app, lifespan included (the tail and the fan-out run), behind httpx."""
    runtime = await build_runtime(load_config(config, environ=ENV))
    app = create_app(runtime)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8080", timeout=30
        ) as client,
    ):
        await runtime.events.core.tail.started.wait()
        yield client, runtime


@asynccontextmanager
async def served(config: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The app under a real uvicorn in this event loop (streams reach the client as they are
    written, which httpx's ASGI transport does not do), behind an httpx client."""
    async with served_live(config) as (client, live):
        yield client, live.runtime


@asynccontextmanager
async def served_live(config: Path) -> AsyncIterator[tuple[httpx.AsyncClient, LiveRuntime]]:
    """The same, with the runtime the doors serve from: `live.reload(...)` switches it."""
    import uvicorn

    from tests.helpers.servers import free_port

    live = LiveRuntime(await build_runtime(load_config(config, environ=ENV)))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(live), host="127.0.0.1", port=port, log_level="warning")
    )
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        while not server.started:  # noqa: ASYNC110 - uvicorn says so by a flag only
            await anyio.sleep(0.02)
        await live.runtime.events.core.tail.started.wait()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client, live
        server.should_exit = True


async def replication_slot_made(db: Any, slot: str, timeout: float = 30) -> None:
    """Until the gateway's CDC source has made `slot` (it does as it starts, beside the gateway):
    a row written before it is not in its log. `db` is an asyncpg connection."""
    with anyio.fail_after(timeout):
        while not await db.fetchval("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", slot):  # noqa: ASYNC110 - another task makes it
            await anyio.sleep(0.05)


async def drop_cdc_objects(db: Any, slot: str, publication: str, table: str) -> None:
    """What a CDC test made: a slot left behind would keep the server's WAL forever."""
    await db.execute(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", slot
    )
    await db.execute(f"DROP PUBLICATION IF EXISTS {publication}")
    await db.execute(f"DROP TABLE IF EXISTS {table}")
