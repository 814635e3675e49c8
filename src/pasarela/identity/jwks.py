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


def usable_keys(document: Any) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by key id; keys that cannot be used are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('the JWKS document is not {"keys": [...]}')
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError):
            continue  # an odd or unsupported key must not hide the good ones
        if isinstance(key.key_id, str) and key.key_id:
            keys[key.key_id] = key
    if not keys:
        raise ValueError("the JWKS document holds no usable signing key")
    return keys


class JwksCache:
    def __init__(self, url: str, *, max_age: float, refetch_interval: float, timeout: float = 5.0) -> None:
        self.url = url
        self.max_age = max_age
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")
        self._failed_at = -float("inf")
        self._lock = anyio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None) -> jwt.PyJWK:
        now = time.monotonic()
        if not self._keys and now - self._failed_at < self.refetch_interval:
            # The provider just failed us: do not let every unauthenticated request refetch.
            raise AuthenticationError("cannot verify tokens: the identity provider's keys are unavailable")
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
                keys = usable_keys(await self._fetch())
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError, jwt.PyJWTError) as exc:
                log.warning("jwks_fetch_failed", url=self.url, error=type(exc).__name__)
                if not self._keys:
                    self._failed_at = time.monotonic()
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
