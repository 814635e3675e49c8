"""Retries with exponential backoff and jitter (stamina), under a per-backend budget.

Only calls that are safe to repeat are retried: idempotent tools (GET/HEAD/PUT/DELETE or
annotated idempotent) and calls carrying an idempotency key. Only failures that a repeat may
cure are retried: timeouts, connection failures, HTTP 502/503/504, and 429 after the
backend's own Retry-After. The budget keeps retries to a share of the calls in a window, so
a struggling backend sees at most (1 + budget_ratio) times its normal load, not `attempts` times.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import stamina

from pasarela.config.traffic import RetrySettings
from pasarela.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable

T = TypeVar("T")
RETRYABLE_STATUSES = frozenset({502, 503, 504})


class RetryBudget:
    """Retries allowed per sliding window: max(budget_min, budget_ratio × calls)."""

    def __init__(self, settings: RetrySettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ratio = settings.budget_ratio
        self._minimum = settings.budget_min
        self._window = settings.budget_window
        self._clock = clock
        self._calls: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _trim(self, now: float) -> None:
        horizon = now - self._window
        for times in (self._calls, self._retries):
            while times and times[0] < horizon:
                times.popleft()

    def note_call(self) -> None:
        now = self._clock()
        self._trim(now)
        self._calls.append(now)

    def try_spend(self) -> bool:
        now = self._clock()
        self._trim(now)
        if len(self._retries) >= max(self._minimum, self._ratio * len(self._calls)):
            return False
        self._retries.append(now)
        return True


def retry_delay(exc: Exception, settings: RetrySettings) -> bool | float:
    """stamina's hook: False = do not retry; True = the usual backoff; a number = wait that long."""
    if not isinstance(exc, UpstreamError):
        return False
    if isinstance(exc, UpstreamTimeout | UpstreamUnavailable):
        return True
    if exc.upstream_status in RETRYABLE_STATUSES:
        return True
    if exc.upstream_status == 429:
        wait = exc.retry_after if exc.retry_after is not None else settings.wait_max
        return wait if wait <= settings.wait_max else False  # a long pause is the agent's to wait out
    return False


class Retrier:
    def __init__(self, settings: RetrySettings) -> None:
        self.settings = settings
        self.budget = RetryBudget(settings)

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        retryable: bool,
        on_retry: Callable[[Exception], None],
        on_budget_exhausted: Callable[[], None],
    ) -> T:
        self.budget.note_call()
        settings = self.settings
        if not retryable or settings.attempts == 1:
            return await attempt()
        started = time.monotonic()
        # The first attempt runs outside stamina: most calls succeed, and its retry loop costs
        # ~40 µs per call even when nothing fails (bench/stages.py).
        try:
            return await attempt()
        except Exception as exc:
            delay = retry_delay(exc, settings)
            if delay is False:
                raise
            if not self.budget.try_spend():
                on_budget_exhausted()
                raise
            first_failure = exc
        wait = (
            delay
            if not isinstance(delay, bool)
            else settings.wait_initial + random.uniform(0, settings.wait_jitter)  # noqa: S311 - jitter, not a secret
        )
        await asyncio.sleep(wait)
        on_retry(first_failure)
        return await self._retry(attempt, started, first_failure, on_retry, on_budget_exhausted)

    async def _retry(
        self,
        attempt: Callable[[], Awaitable[T]],
        started: float,
        first_failure: Exception,
        on_retry: Callable[[Exception], None],
        on_budget_exhausted: Callable[[], None],
    ) -> T:
        """Attempts 2..n: stamina's schedule continues where the first backoff left off."""
        settings = self.settings
        last = first_failure
        remaining = settings.max_time - (time.monotonic() - started)
        if remaining <= 0:
            raise last
        async for trial in stamina.retry_context(
            on=lambda exc: retry_delay(exc, settings),
            attempts=settings.attempts - 1,
            timeout=remaining,
            wait_initial=settings.wait_initial * 2,
            wait_max=settings.wait_max,
            wait_jitter=settings.wait_jitter,
        ):
            if trial.num > 1:
                if not self.budget.try_spend():
                    on_budget_exhausted()
                    raise last
                on_retry(last)
            with trial:
                try:
                    return await attempt()
                except Exception as exc:
                    last = exc
                    raise
        raise AssertionError("unreachable: stamina re-raises the last failure")
