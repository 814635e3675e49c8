"""The provider's signing keys, fetched asynchronously and cached.

An unknown `kid` triggers at most one refetch per `refetch_interval` (keys rotate rarely;
an attacker minting tokens with random key ids must not turn each request into a fetch).
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import anyio
import jwt
import structlog

from pasarela.errors import AuthenticationError

log = structlog.get_logger("pasarela.jwks")


class JwksCache:
    def __init__(self, url: str, *, max_age: float, refetch_interval: float, timeout: float = 5.0) -> None:
        self.url = url
        self.max_age = max_age
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")
        self._lock = anyio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None) -> jwt.PyJWK:
        now = time.monotonic()
        stale = now - self._fetched_at > self.max_age
        if stale or (kid not in self._keys and now - self._fetched_at > self.refetch_interval):
            await self._refresh(since=self._fetched_at)
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        found = self._keys.get(kid or "")
        if found is None:
            raise AuthenticationError("the token is signed with a key the identity provider does not publish")
        return found

    async def _refresh(self, *, since: float) -> None:
        async with self._lock:
            if self._fetched_at != since:  # another request refreshed while we waited
                return
            try:
                document = await self._fetch()
                keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(document).keys if k.key_id}
            except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWKSetError) as exc:
                log.warning("jwks_fetch_failed", url=self.url, error=type(exc).__name__)
                if not self._keys:
                    raise AuthenticationError(
                        "cannot verify tokens: the identity provider's keys are unavailable"
                    ) from exc
                self._fetched_at = time.monotonic()  # keep serving the keys we have; retry later
                return
            self._keys = keys
            self._fetched_at = time.monotonic()
            self.fetches += 1

    async def _fetch(self) -> Any:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout), trust_env=False
            ) as session,
            session.get(self.url, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            return await response.json(content_type=None)
