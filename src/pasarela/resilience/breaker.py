"""The circuit breaker: closed → open → half-open → closed (or open again).

The state lives in a `BreakerStore` (memory:// or redis://), so every replica sharing Redis
sees a breaker opened by any of them — within `sync_interval` (0.1 s with Redis), for which a
replica trusts the state it last read rather than asking Redis on every call. Closed: outcomes are counted over a sliding window;
once at least `min_calls` were made and `failure_ratio` of them failed, the breaker opens.
Open: calls fail at once with 503 `circuit_open` until `open_for` has passed. Half-open: up to
`half_open_calls` probes go through; one failure reopens, all succeeding closes.

The breaker judges the backend, not one caller's inputs: each outcome is also counted in the
caller's own window (per principal), and the breaker opens for everyone only when at least
`min_principals` principals are failing (their own window at `failure_ratio`, or their own
circuit open). A principal failing alone gets its own circuit instead — the same state machine
under the name `backend|caller` — and `CallerCircuitOpen` while others pass (docs/resilience.md).

If the store itself is unreachable the breaker lets calls through (it protects backends; it
must not become the outage) and logs it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import structlog
from cachetools import LRUCache

from pasarela.config.traffic import CircuitBreakerSettings
from pasarela.errors import CallerCircuitOpen, CircuitOpen
from pasarela.shared import BreakerStore, SharedStoreError, WindowCounts
from pasarela.shared.base import caller_name
from pasarela.telemetry.metrics import GatewayMetrics

log = structlog.get_logger("pasarela.breaker")


class BreakerState(IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


def caller_key(principal_id: str) -> str:
    """A caller's name in the store: hashed, so principal ids never appear in Redis keys."""
    return hashlib.sha256(principal_id.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to make one call; a probe's outcome decides the half-open breaker (or the caller's)."""

    probe: bool = False
    tracked: bool = True  # False when the store was unreachable: the outcome is not counted
    caller: str | None = None
    caller_probe: bool = False


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
        # With a remote store, when a breaker (the backend's, or a caller's) was last seen open
        # (or None) and when that was read: for `sync_interval` seconds a call trusts it
        # instead of asking the store again.
        self._sync_interval = sync_interval
        self._seen: LRUCache[str, tuple[float | None, float]] = LRUCache(maxsize=10_000)
        # Keep the state long after open_for so half-open probes find it; an idle breaker
        # nobody probes for this long closes by itself.
        self._state_ttl = settings.open_for * 10 + settings.window
        self._isolate = settings.min_principals > 1

    async def state(self, caller: str | None = None) -> BreakerState:
        name = self.backend if caller is None else caller_name(self.backend, caller)
        return self._state_at(await self._store.opened_at(name), self._clock())

    def _state_at(self, opened_at: float | None, now: float) -> BreakerState:
        if opened_at is None:
            return BreakerState.CLOSED
        if now < opened_at + self.settings.open_for:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    async def admit(self, tool: str, caller: str | None = None) -> Permit:
        """A permit to call, or CircuitOpen (CallerCircuitOpen: this caller's own) at once."""
        if not self.settings.enabled:
            return Permit(tracked=False)
        caller = caller if self._isolate else None
        try:
            now = self._clock()
            opened_at = await self._opened_at(self.backend, now)
            state = self._state_at(opened_at, now)
            self._metrics.breaker_state.labels(self.backend).set(state)
            if state is BreakerState.CLOSED:
                return await self._admit_caller(tool, caller, now)
            assert opened_at is not None
            if state is BreakerState.HALF_OPEN:
                # An isolated caller may not probe for everyone: its inputs would decide for all.
                await self._refuse_isolated(tool, caller, now)
                if await self._store.take_probe(self.backend, self.settings.half_open_calls, self._state_ttl):
                    return Permit(probe=True, caller=caller)
        except SharedStoreError as exc:
            log.warning("breaker_store_unavailable", backend=self.backend, error=str(exc))
            return Permit(tracked=False)
        self._metrics.breaker_rejections.labels(self.backend, tool).inc()
        raise CircuitOpen(
            f"{self.backend} is failing: calls to it are paused (circuit open); try again later",
            backend=self.backend,
            retry_after=self._retry_after(state, opened_at, now),
        )

    async def _admit_caller(self, tool: str, caller: str | None, now: float) -> Permit:
        if caller is None:
            return Permit()
        name = caller_name(self.backend, caller)
        opened_at = await self._opened_at(name, now)
        state = self._state_at(opened_at, now)
        if state is BreakerState.CLOSED:
            return Permit(caller=caller)
        assert opened_at is not None
        if state is BreakerState.HALF_OPEN and await self._store.take_probe(
            name, self.settings.half_open_calls, self._state_ttl
        ):
            return Permit(caller=caller, caller_probe=True)
        raise self._caller_refused(tool, state, opened_at, now)

    async def _refuse_isolated(self, tool: str, caller: str | None, now: float) -> None:
        if caller is None:
            return
        opened_at = await self._opened_at(caller_name(self.backend, caller), now)
        if self._state_at(opened_at, now) is BreakerState.OPEN:
            assert opened_at is not None
            raise self._caller_refused(tool, BreakerState.OPEN, opened_at, now)

    def _caller_refused(
        self, tool: str, state: BreakerState, opened_at: float, now: float
    ) -> CallerCircuitOpen:
        self._metrics.caller_breaker_rejections.labels(self.backend, tool).inc()
        retry_after = self._retry_after(state, opened_at, now)
        return CallerCircuitOpen(
            f"your calls to {self.backend} keep failing, and other principals' calls do not: yours "
            f"are paused for {max(1, round(retry_after))}s (theirs are unaffected). If the backend "
            "rejects what you send, check your arguments (types, ranges, ids) rather than retrying",
            backend=self.backend,
            retry_after=retry_after,
        )

    def _retry_after(self, state: BreakerState, opened_at: float, now: float) -> float:
        return opened_at + self.settings.open_for - now if state is BreakerState.OPEN else 1.0

    async def _opened_at(self, name: str, now: float) -> float | None:
        seen = self._seen.get(name)
        if seen is not None and now - seen[1] < self._sync_interval:
            return seen[0]
        opened_at = await self._store.opened_at(name)
        self._seen[name] = (opened_at, now)
        return opened_at

    async def record(self, permit: Permit, *, failed: bool, duration: float) -> None:
        if not permit.tracked:
            return
        slow = self.settings.slow_call
        failed = failed or (slow is not None and duration >= slow)
        try:
            if permit.probe and permit.caller is not None and failed:
                await self._record_caller_probe_failure(permit.caller)
            elif permit.probe:
                await self._record_probe(self.backend, failed)
            elif permit.caller_probe:
                assert permit.caller is not None
                await self._record_probe(caller_name(self.backend, permit.caller), failed)
            elif permit.caller is not None:
                await self._record_caller(permit.caller, failed)
            else:
                await self._record_closed(failed)
        except SharedStoreError as exc:
            log.warning("breaker_store_unavailable", backend=self.backend, error=str(exc))

    async def _record_probe(self, name: str, failed: bool) -> None:
        if failed:
            await self._open(name, "probe_failed")
        elif await self._store.probe_succeeded(name) >= self.settings.half_open_calls:
            await self._store.reset(name)
            self._seen[name] = (None, self._clock())
            self._transition(name, BreakerState.CLOSED, "probes_succeeded")

    async def _record_caller_probe_failure(self, caller: str) -> None:
        """A probe failed: it reopens the circuit for everyone only if others are failing too.
        A caller failing alone is isolated and its probe given back, so one agent's inputs
        cannot keep the backend's circuit open (docs/resilience.md)."""
        settings, now = self.settings, self._clock()
        await self._store.record_caller(self.backend, caller, now, True, settings.window)
        failing = await self._store.failing_callers(
            self.backend, now, settings.window, settings.failure_ratio, settings.min_principals
        )
        if failing >= settings.min_principals:
            await self._open(self.backend, f"a probe failed, {failing}+ principals failing")
            return
        await self._isolate_caller(caller, "its probe failed while no other principal's calls fail")
        await self._store.release_probe(self.backend)

    async def _isolate_caller(self, caller: str, reason: str) -> None:
        name, now = caller_name(self.backend, caller), self._clock()
        await self._store.isolate(self.backend, caller, now, self._state_ttl)
        self._seen[name] = (now, now)
        self._transition(name, BreakerState.OPEN, reason)

    def _tripping(self, counts: WindowCounts) -> bool:
        return (
            counts.calls >= self.settings.min_calls
            and counts.failures >= self.settings.failure_ratio * counts.calls
        )

    async def _record_closed(self, failed: bool) -> None:
        counts = await self._store.record(self.backend, self._clock(), failed, self.settings.window)
        # Calls still in flight when another tripped it must not keep extending the pause.
        if failed and self._tripping(counts) and await self._store.opened_at(self.backend) is None:
            await self._open(self.backend, f"{counts.failures}/{counts.calls} calls failed")

    async def _record_caller(self, caller: str, failed: bool) -> None:
        settings, now = self.settings, self._clock()
        everyone, own = await self._store.record_caller(self.backend, caller, now, failed, settings.window)
        if not failed:
            return
        if self._tripping(everyone) and await self._store.opened_at(self.backend) is None:
            failing = await self._store.failing_callers(
                self.backend, now, settings.window, settings.failure_ratio, settings.min_principals
            )
            if failing >= settings.min_principals:
                reason = f"{everyone.failures}/{everyone.calls} calls failed, from {failing}+ principals"
                await self._open(self.backend, reason)
                return
        name = caller_name(self.backend, caller)
        if self._tripping(own) and await self._store.opened_at(name) is None:
            await self._isolate_caller(caller, f"{own.failures}/{own.calls} of one caller's calls failed")

    async def _open(self, name: str, reason: str) -> None:
        now = self._clock()
        await self._store.trip(name, now, self._state_ttl)
        self._seen[name] = (now, now)
        self._transition(name, BreakerState.OPEN, reason)

    def _transition(self, name: str, to: BreakerState, reason: str) -> None:
        if name == self.backend:
            self._metrics.breaker_state.labels(self.backend).set(to)
            self._metrics.breaker_transitions.labels(self.backend, to.name.lower()).inc()
            log.warning("circuit_" + to.name.lower(), backend=self.backend, reason=reason)
        else:
            self._metrics.caller_breaker_transitions.labels(self.backend, to.name.lower()).inc()
            log.warning(
                "caller_circuit_" + to.name.lower(),
                backend=self.backend,
                caller=name.partition("|")[2],
                reason=reason,
            )
