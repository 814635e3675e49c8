"""The delivery loop: claim what is due, POST each signed, record the attempt, sleep until the
next is due or something wakes it. Several loops (processes, replicas) may share one outbox."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import anyio
import structlog
from sqlalchemy.exc import SQLAlchemyError

from pasarela.config.webhooks import WebhooksSettings
from pasarela.telemetry import GatewayMetrics
from pasarela.webhooks.endpoints import Endpoint
from pasarela.webhooks.history import backlog
from pasarela.webhooks.outbox import FAILED, PENDING, Attempt, Claimed, Outbox, Outcome
from pasarela.webhooks.retries import decide
from pasarela.webhooks.sender import Sender
from pasarela.webhooks.signing import signed_headers
from pasarela.webhooks.wakeup import Wakeup

log = structlog.get_logger("pasarela.webhooks")

CLAIM_MARGIN = 5.0  # a claim outlives the endpoint's timeout by this much before it is due again
GAUGE_INTERVAL = 5.0  # seconds between readings of the outbox's depth
MIN_WAIT = 0.05  # never spin: another loop may be claiming what looks due
STOP_GRACE = 5.0  # seconds deliveries in flight get to finish when the loop stops


class DeliveryLoop:
    def __init__(
        self,
        outbox: Outbox,
        endpoints: Mapping[str, Endpoint],
        settings: WebhooksSettings,
        sender: Sender,
        wakeup: Wakeup,
        metrics: GatewayMetrics | None,
        owner: str,
    ) -> None:
        self.outbox = outbox
        self.endpoints = endpoints
        self.settings = settings
        self.sender = sender
        self.wakeup = wakeup
        self.metrics = metrics
        self.owner = owner
        self.in_flight = 0
        self._gauges_at = 0.0

    async def run(self, stop: anyio.Event) -> None:
        names = list(self.endpoints)
        if not names:
            await stop.wait()
            return
        lease = max(e.timeout for e in self.endpoints.values()) + CLAIM_MARGIN
        async with anyio.create_task_group() as group:
            if self.outbox.store.dialect == "postgresql":
                group.start_soon(self.wakeup.listen, self.outbox.store)
            group.start_soon(self._wake_on, stop)
            while not stop.is_set():
                try:
                    free = self.settings.concurrency - self.in_flight
                    claimed = await self.outbox.claim(self.owner, names, free, lease, time.time())
                    for item in claimed:
                        self.in_flight += 1
                        group.start_soon(self._deliver, item, lease)
                    await self._gauges()
                    wait = self.settings.poll_interval
                    if free > len(claimed):  # everything due is taken: sleep until the next is due
                        due = await self.outbox.next_due(names)
                        if due is not None:
                            wait = min(wait, max(MIN_WAIT, due - time.time()))
                except (SQLAlchemyError, OSError) as exc:
                    log.error("webhooks_outbox_unreachable", error=type(exc).__name__)
                    wait = self.settings.poll_interval
                await self.wakeup.wait(wait)
            with anyio.move_on_after(STOP_GRACE):  # let deliveries in flight finish and be recorded
                while self.in_flight:
                    await self.wakeup.wait(MIN_WAIT)
            group.cancel_scope.cancel()  # those still in flight give their claims back

    async def _wake_on(self, stop: anyio.Event) -> None:
        await stop.wait()
        self.wakeup.set()

    async def _deliver(self, item: Claimed, lease: float) -> None:
        endpoint = self.endpoints[item.endpoint]
        try:
            decider: Callable[[int, Attempt], Outcome] = self._scheduled
            if endpoint.principal != item.principal:
                # The configuration moved the endpoint to another principal: never send them this.
                attempt = Attempt(
                    time.time(), 0.0, error=f"not sent: {item.endpoint} now belongs to another principal"
                )
                decider = _not_sent
            else:
                headers = signed_headers(endpoint.key, item.message_id, int(time.time()), item.body)
                attempt = await self.sender.post(endpoint.url, headers, item.body, endpoint.timeout)
            status = await self.outbox.record(item, self.owner, attempt, decider)
            self._observe(item, endpoint, attempt, status)
        except anyio.get_cancelled_exc_class():
            with anyio.move_on_after(2, shield=True):
                await self.outbox.release([item.id], self.owner, time.time())
            raise
        except (SQLAlchemyError, OSError) as exc:
            log.error(
                "webhook_not_recorded",
                delivery=item.id,
                error=type(exc).__name__,
                retry=f"sent again with the same webhook-id once the claim ends (≤ {lease:g}s)",
            )
        finally:
            self.in_flight -= 1
            self.wakeup.set()  # a slot is free

    def _scheduled(self, rounds: int, attempt: Attempt) -> Outcome:
        settings = self.settings
        return decide(rounds, attempt, settings.retry_schedule, settings.retry_after_max, time.time())

    def _observe(self, item: Claimed, endpoint: Endpoint, attempt: Attempt, status: str | None) -> None:
        outcome = "retrying" if status == PENDING else (status or "superseded")
        fields = {
            "endpoint": item.endpoint,
            "delivery": item.id,
            "webhook_id": item.message_id,
            "event_type": item.event_type,
            "status_code": attempt.status_code,
            "outcome": outcome,
            "ms": round(attempt.duration_ms, 1),
        }
        if attempt.error is None:
            log.info("webhook_attempt", **fields)
        else:
            log.warning("webhook_attempt", error=attempt.error, **fields)
        if self.metrics is not None:
            self.metrics.webhook_deliveries.labels(endpoint.name, outcome).inc()
            self.metrics.webhook_attempt_latency.labels(endpoint.name).observe(attempt.duration_ms / 1000)

    async def _gauges(self) -> None:
        now = time.time()
        if self.metrics is None or now - self._gauges_at < GAUGE_INTERVAL:
            return
        self._gauges_at = now
        for name, waiting in (await backlog(self.outbox.store, self.endpoints)).items():
            self.metrics.webhook_outbox_depth.labels(name).set(waiting.waiting)
            age = 0.0 if waiting.oldest_at is None else max(0.0, now - waiting.oldest_at)
            self.metrics.webhook_oldest_pending_age.labels(name).set(age)


def _not_sent(rounds: int, attempt: Attempt) -> Outcome:
    return Outcome(FAILED, time.time())
