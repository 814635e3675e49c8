"""A per-backend concurrency limit with a bounded wait (backpressure).

Beyond the limit a call waits at most `wait` seconds for a slot, then fails fast with 503
`throttled` and a Retry-After, rather than queueing without end. The limit is per replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pasarela.errors import Throttled


class Bulkhead:
    def __init__(self, backend: str, limit: int | None, wait: float) -> None:
        self.backend = backend
        self.limit = limit
        self.wait = wait
        self._slots = asyncio.Semaphore(limit) if limit is not None else None
        self.in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots is None:
            yield
            return
        await self._acquire()
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._slots.release()

    async def _acquire(self) -> None:
        assert self._slots is not None
        if not self._slots.locked():
            await self._slots.acquire()  # free slot: no timer needed
            return
        try:
            async with asyncio.timeout(self.wait):
                await self._slots.acquire()
        except TimeoutError:
            raise Throttled(
                f"{self.backend} already has {self.limit} calls in flight from this gateway; "
                f"no slot freed within {self.wait:g}s",
                backend=self.backend,
                retry_after=max(1.0, self.wait),
            ) from None
