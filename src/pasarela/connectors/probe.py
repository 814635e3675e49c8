"""A backend's health, asked at most once a second however often `/readyz` is probed: one
answer is shared by concurrent probes, so probes cannot flood a backend."""

from __future__ import annotations

import time

import anyio

from pasarela.connectors.base import BackendHealth

KEEP_FOR = 1.0  # seconds an answer is reused


class ThrottledProbe:
    """Subclasses say how to ask (`_ask`); this reuses the answer for `KEEP_FOR` seconds."""

    def __init__(self) -> None:
        self._lock = anyio.Lock()
        self._last: BackendHealth | None = None
        self._at = 0.0

    async def health(self) -> BackendHealth:
        async with self._lock:
            if self._last is None or time.monotonic() - self._at >= KEEP_FOR:
                self._last = await self._ask()
                self._at = time.monotonic()
            return self._last

    async def _ask(self) -> BackendHealth:
        raise NotImplementedError
