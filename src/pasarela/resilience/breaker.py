"""The circuit breaker: closed → open → half-open → closed (or open again).

The state lives in a `BreakerStore` (memory:// or redis://), so every replica sharing Redis
sees a breaker opened by any of them — within `sync_interval` (0.1 s with Redis), for which a
replica trusts the state it last read rather than asking Redis on every call. Closed: outcomes are counted over a sliding window;
once at least `min_calls` were made and `failure_ratio` of them failed, the breaker opens.
Open: calls fail at once with 503 `circuit_open` until `open_for` has passed. Half-open: up to
`half_open_calls` probes go through; one failure reopens, all succeeding closes.

If the store itself is unreachable the breaker lets calls through (it protects backends; it
must not become the outage) and logs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import structlog

from pasarela.config.traffic import CircuitBreakerSettings
from pasarela.errors import CircuitOpen
from pasarela.shared import BreakerStore, SharedStoreError
from pasarela.telemetry.metrics import GatewayMetrics

log = structlog.get_logger("pasarela.breaker")


class BreakerState(IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to make one call; a probe's outcome decides the half-open breaker."""

    probe: bool = False
    tracked: bool = True  # False when the store was unreachable: the outcome is not counted


class CircuitBreaker:
    def __init__(
        self,
        backend: str,
        settings: CircuitBreakerSettings,
        store: BreakerStore,
        metrics: GatewayMetrics,
        *,
        clock: Callable[[], float] = time.time,
        sync_interval: float = 0.0,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self._store = store
        self._metrics = metrics
        self._clock = clock
        # With a remote store, when the breaker was last seen open (or None) and when that was
        # read: for `sync_interval` seconds a call trusts it instead of asking the store again.
        self._sync_interval = sync_interval
        self._seen: tuple[float | None, float] | None = None
        # Keep the state long after open_for so half-open probes find it; an idle breaker
        # nobody probes for this long closes by itself.
        self._state_ttl = settings.open_for * 10 + settings.window

    async def state(self) -> BreakerState:
        opened_at = await self._store.opened_at(self.backend)
        return self._state_at(opened_at, self._clock())

    def _state_at(self, opened_at: float | None, now: float) -> BreakerState:
        if opened_at is None:
            return BreakerState.CLOSED
        if now < opened_at + self.settings.open_for:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    async def admit(self, tool: str) -> Permit:
        """A permit to call, or CircuitOpen at once."""
        if not self.settings.enabled:
            return Permit(tracked=False)
        try:
            now = self._clock()
            opened_at = await self._opened_at(now)
            state = self._state_at(opened_at, now)
            self._metrics.breaker_state.labels(self.backend).set(state)
            if state is BreakerState.CLOSED:
                return Permit()
            assert opened_at is not None
            if state is BreakerState.HALF_OPEN and await self._store.take_probe(
                self.backend, self.settings.half_open_calls, self._state_ttl
            ):
                return Permit(probe=True)
        except SharedStoreError as exc:
            log.warning("breaker_store_unavailable", backend=self.backend, error=str(exc))
            return Permit(tracked=False)
        self._metrics.breaker_rejections.labels(self.backend, tool).inc()
        retry_after = opened_at + self.settings.open_for - now if state is BreakerState.OPEN else 1.0
        raise CircuitOpen(
            f"{self.backend} is failing: calls to it are paused (circuit open); try again later",
            backend=self.backend,
            retry_after=retry_after,
        )

    async def _opened_at(self, now: float) -> float | None:
        seen = self._seen
        if seen is not None and now - seen[1] < self._sync_interval:
            return seen[0]
        opened_at = await self._store.opened_at(self.backend)
        self._seen = (opened_at, now)
        return opened_at

    async def record(self, permit: Permit, *, failed: bool, duration: float) -> None:
        if not permit.tracked:
            return
        slow = self.settings.slow_call
        failed = failed or (slow is not None and duration >= slow)
        try:
            if permit.probe:
                await self._record_probe(failed)
            else:
                await self._record_closed(failed)
        except SharedStoreError as exc:
            log.warning("breaker_store_unavailable", backend=self.backend, error=str(exc))

    async def _record_probe(self, failed: bool) -> None:
        if failed:
            await self._open("probe_failed")
        elif await self._store.probe_succeeded(self.backend) >= self.settings.half_open_calls:
            await self._store.reset(self.backend)
            self._seen = (None, self._clock())
            self._transition(BreakerState.CLOSED, "probes_succeeded")

    async def _record_closed(self, failed: bool) -> None:
        counts = await self._store.record(self.backend, self._clock(), failed, self.settings.window)
        if (
            failed
            and counts.calls >= self.settings.min_calls
            and counts.failures >= self.settings.failure_ratio * counts.calls
            # Calls still in flight when another tripped it must not keep extending the pause.
            and await self._store.opened_at(self.backend) is None
        ):
            await self._open(f"{counts.failures}/{counts.calls} calls failed")

    async def _open(self, reason: str) -> None:
        now = self._clock()
        await self._store.trip(self.backend, now, self._state_ttl)
        self._seen = (now, now)
        self._transition(BreakerState.OPEN, reason)

    def _transition(self, to: BreakerState, reason: str) -> None:
        self._metrics.breaker_state.labels(self.backend).set(to)
        self._metrics.breaker_transitions.labels(self.backend, to.name.lower()).inc()
        log.warning("circuit_" + to.name.lower(), backend=self.backend, reason=reason)
