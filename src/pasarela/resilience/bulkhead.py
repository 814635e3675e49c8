"""A per-backend concurrency limit with a bounded wait (backpressure), shared fairly.

Beyond the limit a call waits at most `wait` seconds for a slot, then fails fast with 503
`throttled` and a Retry-After, rather than queueing without end. The limit is per replica.

Fairness: slots are not first come, first served. While others wait, a principal may hold
at most its share, max(1, limit // active principals) (active: holding or waiting for a
slot); a freed slot goes to the longest-waiting call of a principal below its share (if none
is, to the longest-waiting call). So one agent flooding a backend holds all its slots only
while nobody else wants one, and gets no more than its share as soon as someone does.
`per_principal`, when set, is a hard cap: a principal never holds more, waiting or not.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pasarela.errors import Throttled


@dataclass(eq=False)
class _Waiter:
    principal: str
    granted: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Bulkhead:
    def __init__(
        self, backend: str, limit: int | None, wait: float, per_principal: int | None = None
    ) -> None:
        self.backend = backend
        self.limit = limit
        self.wait = wait
        self.per_principal = per_principal
        self.in_flight = 0
        self.held: Counter[str] = Counter()
        self._waiters: deque[_Waiter] = deque()

    @asynccontextmanager
    async def slot(self, principal: str = "") -> AsyncIterator[None]:
        if self.limit is None:
            yield
            return
        await self._acquire(principal)
        try:
            yield
        finally:
            self._release(principal)

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot now."""
        return len(self._waiters)

    def share(self) -> int:
        """The most slots one principal may hold while others wait."""
        assert self.limit is not None
        active = set(self.held) | {w.principal for w in self._waiters}
        return max(1, self.limit // max(1, len(active)))

    def _capped(self, principal: str) -> bool:
        return self.per_principal is not None and self.held[principal] >= self.per_principal

    async def _acquire(self, principal: str) -> None:
        assert self.limit is not None
        if not self._waiters and self.in_flight < self.limit and not self._capped(principal):
            self._take(principal)  # a free slot and nobody waiting: no timer needed
            return
        waiter = _Waiter(principal)
        self._waiters.append(waiter)
        self._dispatch()
        try:
            async with asyncio.timeout(self.wait):
                await asyncio.shield(waiter.granted)
        except TimeoutError:
            if waiter.granted.done():  # granted in the same instant: keep it
                return
            self._waiters.remove(waiter)
            self._dispatch()  # its leaving may change the shares
            raise Throttled(
                f"{self.backend} already has {self.limit} calls in flight from this gateway "
                f"(yours: {self.held[principal]}); no slot freed for you within {self.wait:g}s",
                backend=self.backend,
                retry_after=max(1.0, self.wait),
            ) from None
        except BaseException:  # cancelled while waiting: give back a slot granted meanwhile
            if waiter.granted.done():
                self._release(principal)
            else:
                self._waiters.remove(waiter)
                self._dispatch()
            raise

    def _take(self, principal: str) -> None:
        self.in_flight += 1
        self.held[principal] += 1

    def _release(self, principal: str) -> None:
        self.in_flight -= 1
        self.held[principal] -= 1
        if self.held[principal] <= 0:
            del self.held[principal]
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to waiters: first to principals below their share, then to anyone."""
        assert self.limit is not None
        while self.in_flight < self.limit and self._waiters:
            share = self.share()
            eligible = [w for w in self._waiters if not self._capped(w.principal)]
            if not eligible:
                return
            chosen = next((w for w in eligible if self.held[w.principal] < share), eligible[0])
            self._waiters.remove(chosen)
            self._take(chosen.principal)
            chosen.granted.set_result(None)
