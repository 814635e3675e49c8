"""Failed console logins, counted per client address."""

from __future__ import annotations

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

# Failed logins per client address: API keys are long and random, but a flood of guesses would
# also be a flood of audit records. Beyond this, that address gets 429 until the window passes.
FAILED_LOGINS = parse("10/minute")


class LoginThrottle:
    """Failed logins counted per client address, in this process (limits' moving window)."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def blocked(self, client: str) -> bool:
        stats = await self._limiter.get_window_stats(FAILED_LOGINS, "console-login", client)
        return stats.remaining <= 0

    async def failed(self, client: str) -> None:
        await self._limiter.hit(FAILED_LOGINS, "console-login", client)
