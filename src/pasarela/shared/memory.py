"""memory://: shared state for one process (the embedded default); nothing to run."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from cachetools import TLRUCache
from limits.aio.storage import MemoryStorage

from pasarela.shared.base import WINDOW_BUCKETS, WindowCounts, bucket_of


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


class MemoryBreakers:
    def __init__(self) -> None:
        self._breakers: defaultdict[str, _Breaker] = defaultdict(_Breaker)

    async def opened_at(self, name: str) -> float | None:
        return self._breakers[name].opened_at

    async def trip(self, name: str, now: float, ttl: float) -> None:
        self._breakers[name] = _Breaker(opened_at=now)

    async def reset(self, name: str) -> None:
        self._breakers[name] = _Breaker()

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
        buckets = self._breakers[name].buckets
        current = bucket_of(now, window)
        counts = buckets.setdefault(current, [0, 0])
        counts[0] += 1
        counts[1] += int(failed)
        oldest = current - WINDOW_BUCKETS + 1
        for stale in [b for b in buckets if b < oldest]:
            del buckets[stale]
        return WindowCounts(sum(c[0] for c in buckets.values()), sum(c[1] for c in buckets.values()))


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
