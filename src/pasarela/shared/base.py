"""What replicas share: rate-limit counters, cached results, circuit-breaker state.

Each backend (`memory://`, `redis://`) provides the three behind one `SharedState`. A storage
failure surfaces as `SharedStoreError`, so callers decide what an outage means for them
(a rate limit's `on_store_error`, a cache miss, a closed breaker) without knowing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from limits.aio.storage import Storage


class SharedStoreError(Exception):
    """The shared store could not be reached or answered with an error."""


class KeyValueStore(Protocol):
    """Bytes under string keys, each with its own time to live."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def delete_prefix(self, prefix: str) -> int:
        """Drop every key starting with `prefix`; returns how many went."""
        ...


@dataclass(frozen=True, slots=True)
class WindowCounts:
    calls: int
    failures: int

    def failing(self, ratio: float) -> bool:
        """At least one failure, and at least `ratio` of the calls failed."""
        return self.failures > 0 and self.failures >= ratio * self.calls


class BreakerStore(Protocol):
    """The state of circuit breakers, by name. Times are wall-clock seconds given by the caller."""

    async def opened_at(self, name: str) -> float | None:
        """When the breaker last opened, or None while it is closed."""
        ...

    async def trip(self, name: str, now: float, ttl: float) -> None:
        """Open the breaker at `now`: forget the window and any probes (kept `ttl` seconds)."""
        ...

    async def reset(self, name: str) -> None:
        """Close the breaker: forget when it opened, the window and the probes."""
        ...

    async def take_probe(self, name: str, limit: int, ttl: float) -> bool:
        """While half-open: True for at most `limit` callers until the breaker trips or resets."""
        ...

    async def probe_succeeded(self, name: str) -> int:
        """Count one successful probe; returns the successes since the breaker opened."""
        ...

    async def record(self, name: str, now: float, failed: bool, window: float) -> WindowCounts:
        """Count one outcome at `now`; returns the counts over the last `window` seconds."""
        ...

    async def record_caller(
        self, name: str, caller: str, now: float, failed: bool, window: float
    ) -> tuple[WindowCounts, WindowCounts]:
        """Count one outcome of `caller` in the breaker's window and in the caller's own
        (breaker `caller_name(name, caller)`); a failure also notes the caller as a recent failer.
        Returns (all callers' counts, this caller's counts) over the last `window` seconds."""
        ...

    async def isolate(self, name: str, caller: str, now: float, ttl: float) -> None:
        """Open `caller`'s own breaker at `now` and take its calls out of the breaker's window
        (bucket by bucket): an isolated caller's failures no longer weigh on the backend's."""
        ...

    async def release_probe(self, name: str) -> None:
        """Give back a probe taken with `take_probe` whose outcome did not judge the breaker."""
        ...

    async def failing_callers(self, name: str, now: float, window: float, ratio: float, enough: int) -> int:
        """How many callers that failed in the last `window` seconds are failing now: their own
        window is `failing(ratio)`, or their own breaker is open. Stops counting at `enough`."""
        ...


class SharedState(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def remote(self) -> bool:
        """True when each operation is a network round trip (worth caching briefly)."""
        ...

    @property
    def limiter_storage(self) -> Storage: ...

    @property
    def cache(self) -> KeyValueStore: ...

    @property
    def breakers(self) -> BreakerStore: ...

    async def ping(self) -> None:
        """Raise SharedStoreError unless the store answers."""
        ...

    async def aclose(self) -> None: ...


# A breaker's window is counted in this many buckets: coarse enough to be cheap, fine enough
# that a burst of failures ages out smoothly.
WINDOW_BUCKETS = 10


def bucket_of(now: float, window: float) -> int:
    return int(now // (window / WINDOW_BUCKETS))


def caller_name(name: str, caller: str) -> str:
    """The name of one caller's own breaker on breaker `name` (`caller` is a hash: no separators)."""
    return f"{name}|{caller}"
