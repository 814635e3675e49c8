"""`Webhooks`: what jobs and events call to tell a principal's endpoints that something happened,
and the delivery loop that sends what they queued."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import time
from typing import Any

import anyio
import structlog

from pasarela.config.loader import LoadedConfig
from pasarela.config.webhooks import SECRET_PREFIX, WebhooksSettings
from pasarela.secrets import Redactor
from pasarela.state import StateStore
from pasarela.telemetry import GatewayMetrics
from pasarela.webhooks.endpoints import Endpoint, endpoints
from pasarela.webhooks.loop import STOP_GRACE, DeliveryLoop
from pasarela.webhooks.outbox import PENDING, Outbox
from pasarela.webhooks.sender import Sender
from pasarela.webhooks.signing import envelope
from pasarela.webhooks.wakeup import Wakeup

log = structlog.get_logger("pasarela.webhooks")

EVENT_TYPE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
MAX_BODY = 1024 * 1024  # a notification says what happened; the data itself is fetched by id


class Webhooks:
    """Built once per runtime from `webhooks:` and the state store (`Runtime.webhooks`)."""

    def __init__(
        self,
        settings: WebhooksSettings,
        state: StateStore,
        redactor: Redactor,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.endpoints = endpoints(settings.endpoints)
        for item in settings.endpoints.values():  # masked whole, and its key part alone
            secret = item.secret.get_secret_value()
            redactor.add(secret, secret.removeprefix(SECRET_PREFIX))
        self.outbox = Outbox(state)
        self.wakeup = Wakeup()
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
        self._sender = Sender(redactor)
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None
        self._stop: anyio.Event | None = None

    @classmethod
    def from_config(
        cls, config: LoadedConfig, state: StateStore, metrics: GatewayMetrics | None = None
    ) -> Webhooks:
        return cls(config.settings.webhooks, state, config.redactor, metrics)

    def subscribers(self, principal_id: str, event_type: str) -> list[Endpoint]:
        """The endpoints of `principal_id` subscribed to `event_type` (no other principal's, ever)."""
        return [e for e in self.endpoints.values() if e.principal == principal_id and e.wants(event_type)]

    async def notify(
        self, principal_id: str, event_type: str, payload: dict[str, Any], *, message_id: str | None = None
    ) -> list[str]:
        """Queue one delivery per endpoint of `principal_id` subscribed to `event_type`, durably (the
        outbox is committed when this returns), and wake the delivery loop; the delivery ids.

        `message_id` is the webhook-id receivers deduplicate on (default: a new one). Notifying
        again with the same id queues nothing new: a job that runs twice after a crash notifies once.
        """
        if not EVENT_TYPE.match(event_type):
            raise ValueError(f"event type {event_type!r}: expected 1-200 of A-Z a-z 0-9 _ . -")
        if message_id is not None and not MESSAGE_ID.match(message_id):
            raise ValueError(f"message id {message_id!r}: expected 1-200 of A-Z a-z 0-9 _ . : -")
        if not isinstance(payload, dict):
            raise TypeError(f"the payload must be a JSON object (a dict), not {type(payload).__name__}")
        chosen = self.subscribers(principal_id, event_type)
        if not chosen:
            return []
        now = time.time()
        body = envelope(event_type, payload, now)
        if len(body) > MAX_BODY:
            raise ValueError(
                f"the notification is {len(body)} bytes, over {MAX_BODY}: send an id, not the data"
            )
        message = message_id or f"msg_{secrets.token_hex(12)}"
        rows = [
            {
                "id": f"whd_{secrets.token_hex(12)}",
                "message_id": message,
                "endpoint": endpoint.name,
                "principal": principal_id,
                "event_type": event_type,
                "body": body.decode(),
                "status": PENDING,
                "attempts": 0,
                "round_attempts": 0,
                "next_attempt_at": now + self.settings.retry_schedule[0],
                "created_at": now,
            }
            for endpoint in chosen
        ]
        ids = await self.outbox.enqueue(rows)
        self.wakeup.set()
        return ids

    async def run(self, stop: anyio.Event | None = None) -> None:
        """The delivery loop, until `stop` is set (or the caller is cancelled): for `serve`, and
        for a process that only delivers."""
        loop = DeliveryLoop(
            self.outbox,
            self.endpoints,
            self.settings,
            self._sender,
            self.wakeup,
            self._metrics,
            self.owner,
        )
        try:
            await loop.run(stop or anyio.Event())
        finally:
            with anyio.CancelScope(shield=True):
                await self._sender.aclose()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Run the delivery loop in the background of this process (until `stop` or `aclose`)."""
        if self.running or not self.endpoints:
            return
        self._stop = anyio.Event()
        self._task = asyncio.get_running_loop().create_task(self.run(self._stop), name="pasarela-webhooks")
        log.info("webhooks_delivering", endpoints=sorted(self.endpoints), worker=self.owner)

    async def stop(self) -> None:
        """Stop the loop: deliveries in flight get a few seconds, then give their claims back."""
        task, self._task = self._task, None
        if task is None or self._stop is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_GRACE + 2)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def aclose(self) -> None:
        await self.stop()
        await self._sender.aclose()
