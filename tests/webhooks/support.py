"""Configurations, stores and waiting for the outbox, shared by the webhook tests."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from pasarela.config import LoadedConfig, load_config_text
from pasarela.state import StateStore, open_state
from pasarela.telemetry import GatewayMetrics
from pasarela.webhooks import Webhooks, history
from tests.helpers.gateway import sha

SECRET_A = "whsec_" + base64.b64encode(b"a" * 32).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 32).decode()
ENV = {"TEST_SECRET_HOOK_A": SECRET_A, "TEST_SECRET_HOOK_B": SECRET_B}


def config_text(
    receiver_url: str,
    *,
    state: str,
    schedule: str = "[0s, 50ms, 50ms]",
    endpoints: str = "",
    webhooks: str = "",
    extra: str = "",
) -> str:
    """Principals alpha and beta; endpoint `a` is alpha's (job.*), `b` is beta's (everything).
    `webhooks` adds keys under `webhooks:` (two spaces), `endpoints` more endpoints (four)."""
    return f"""\
version: 1
state: {state}
secrets: [{{env: {{prefix: TEST_SECRET_}}}}]
identity:
  api_keys:
    - {{principal: alpha, key_sha256: "{sha("alpha-key-0000001")}", roles: []}}
    - {{principal: beta, key_sha256: "{sha("beta-key-00000002")}", roles: []}}
audit: {{enabled: false}}
webhooks:
  retry_schedule: {schedule}
  poll_interval: 50ms
{webhooks}  endpoints:
    a: {{principal: alpha, url: "{receiver_url}/a", secret: "${{secret:HOOK_A}}", events: ["job.*"], timeout: 2s}}
    b: {{principal: beta, url: "{receiver_url}/b", secret: "${{secret:HOOK_B}}", events: ["*"], timeout: 2s}}
{endpoints}{extra}"""


def loaded(text: str, directory: Path) -> LoadedConfig:
    return load_config_text(text, source=str(directory / "pasarela.yaml"), base_dir=directory, environ=ENV)


@asynccontextmanager
async def webhooks_on(
    config: LoadedConfig, *, deliver: bool = True, metrics: GatewayMetrics | None = None
) -> AsyncIterator[Webhooks]:
    """`Webhooks` on its own store (its delivery loop running with `deliver`), closed after."""
    store = await open_state(config.settings.state, config.base_dir)
    hooks = Webhooks.from_config(config, store, metrics)
    try:
        if deliver:
            await hooks.start()
        yield hooks
    finally:
        await hooks.aclose()
        await store.aclose()


async def wait_for(
    store: StateStore, delivery_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    """The delivery once `done(delivery)` holds (polling the outbox); fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = await history.delivery(store, delivery_id)
        if found is not None and done(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"delivery {delivery_id} never got there: {found}")
        await anyio.sleep(0.05)


def status_is(*statuses: str) -> Callable[[dict[str, Any]], bool]:
    return lambda found: found["status"] in statuses
