"""memory://: shared state for one process (the embedded default); nothing to run."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from cachetools import TLRUCache
from limits.aio.storage import MemoryStorage

from pasarela.shared.base import WINDOW_BUCKETS, WindowCounts, bucket_of, caller_name


class MemoryKeyValue:
    """A bounded LRU with a time to live per entry."""

    def __init__(self, max_entries: int) -> None:
        # TLRUCache calls ttu(key, value, now) once per insert: each entry carries its expiry.
        self._entries: TLRUCache[str, tuple[bytes, float]] = TLRUCache(
            maxsize=max_entries, ttu=lambda _key, value, now: now + value[1], timer=time.monotonic
        )

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        return None if found is None else found[0]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl > 0:
            self._entries[key] = (value, ttl)

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [key for key in list(self._entries.keys()) if key.startswith(prefix)]
        for key in doomed:
            self._entries.pop(key, None)
        return len(doomed)


@dataclass
class _Breaker:
    opened_at: float | None = None
    probes: int = 0
    probe_successes: int = 0
    buckets: dict[int, list[int]] = field(default_factory=dict)  # bucket → [calls, failures]
    # Callers whose calls failed recently → when they last failed (on a backend's breaker).
    failers: dict[str, float] = field(default_factory=dict)
    last_used: float = 0.0
    expires: float = float("inf")  # while open: when an unprobed breaker is forgotten

    def count(self, now: float, failed: bool | None, window: float) -> WindowCounts:
        """Count an outcome (None: only read) and return the counts over the window."""
        current = bucket_of(now, window)
        buckets = self.buckets
        if failed is not None:
            counts = buckets.setdefault(current, [0, 0])
            counts[0] += 1
            counts[1] += int(failed)
            self.last_used = now
        oldest = current - WINDOW_BUCKETS + 1
        for stale in [b for b in buckets if b < oldest]:
            del buckets[stale]
        return WindowCounts(sum(c[0] for c in buckets.values()), sum(c[1] for c in buckets.values()))


# Callers' breakers are many (one per principal and backend): idle ones are swept this often.
SWEEP_EVERY = 1000


class MemoryBreakers:
    def __init__(self) -> None:
        self._breakers: defaultdict[str, _Breaker] = defaultdict(_Breaker)
        self._until_sweep = SWEEP_EVERY

    async def opened_at(self, name: str) -> float | None:
        found = self._breakers.get(name)
        return None if found is None else found.opened_at

    async def trip(self, name: str, now: float, ttl: float) -> None:
        self._breakers[name] = _Breaker(opened_at=now, expires=now + ttl)

    async def reset(self, name: str) -> None:
        self._breakers.pop(name, None)

    async def take_probe(self, name: str, limit: int, ttl: float) -> bool:
        breaker = self._breakers[name]
        if breaker.probes >= limit:
            return False
        breaker.probes += 1
        return True

    async def probe_succeeded(self, name: str) -> int:
        breaker = self._breakers[name]
        breaker.probe_successes += 1
        return breaker.probe_successes

    async def record(self, name: str, now: float, failed: bool, window: float) -> WindowCounts:
        return self._breakers[name].count(now, failed, window)

    async def record_caller(
        self, name: str, caller: str, now: float, failed: bool, window: float
    ) -> tuple[WindowCounts, WindowCounts]:
        self._sweep(now, window)
        breaker = self._breakers[name]
        if failed:
            breaker.failers[caller] = now
        return breaker.count(now, failed, window), self._breakers[caller_name(name, caller)].count(
            now, failed, window
        )

    async def isolate(self, name: str, caller: str, now: float, ttl: float) -> None:
        own = self._breakers.get(caller_name(name, caller))
        backend = self._breakers.get(name)
        if own is not None and backend is not None:
            for bucket, (calls, failures) in own.buckets.items():
                counts = backend.buckets.get(bucket)
                if counts is not None:
                    counts[0], counts[1] = max(0, counts[0] - calls), max(0, counts[1] - failures)
        await self.trip(caller_name(name, caller), now, ttl)

    async def release_probe(self, name: str) -> None:
        breaker = self._breakers.get(name)
        if breaker is not None and breaker.probes > 0:
            breaker.probes -= 1

    async def failing_callers(self, name: str, now: float, window: float, ratio: float, enough: int) -> int:
        breaker = self._breakers.get(name)
        if breaker is None:
            return 0
        found = 0
        for caller, when in list(breaker.failers.items()):
            if when <= now - window:
                del breaker.failers[caller]
                continue
            own = self._breakers.get(caller_name(name, caller))
            if own is not None and (own.opened_at is not None or own.count(now, None, window).failing(ratio)):
                found += 1
                if found >= enough:
                    break
        return found

    def _sweep(self, now: float, window: float) -> None:
        """Forget callers' breakers idle for two windows (and not open): principals come and go."""
        self._until_sweep -= 1
        if self._until_sweep > 0:
            return
        self._until_sweep = SWEEP_EVERY
        idle = [
            key
            for key, b in self._breakers.items()
            if "|" in key and (b.last_used < now - 2 * window if b.opened_at is None else b.expires < now)
        ]
        for key in idle:
            del self._breakers[key]


class MemorySharedState:
    def __init__(self, url: str, *, max_entries: int) -> None:
        self.url = url
        self.remote = False
        self.limiter_storage = MemoryStorage()
        self.cache = MemoryKeyValue(max_entries)
        self.breakers = MemoryBreakers()

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        await self.limiter_storage.reset()
