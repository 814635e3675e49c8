"""Cached tool results: keyed by tool, canonical arguments and identity scope.

The key is `cache:<tool>:<digest>` where the digest covers the scope's identity and the
arguments, so cached data can never cross identities by accident, and neither principal ids
nor argument values (account numbers, names) appear in the store's key space.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from pasarela import jsonsafe
from pasarela.config.traffic import CacheSettings
from pasarela.identity.principal import Principal
from pasarela.pipeline.call import iso
from pasarela.shared import KeyValueStore, SharedStoreError

log = structlog.get_logger("pasarela.cache")


@dataclass(frozen=True, slots=True)
class CachedResult:
    result: Any
    stored_at: float  # wall clock, seconds
    source: str  # the backend that produced it
    as_of: str | None = None  # when the backend said its data was current (meta.as_of), if it did

    def age(self, now: float) -> float:
        return now - self.stored_at

    @property
    def fresh_as_of(self) -> str:
        """The answer's `as_of`: the backend's own, else when it was stored."""
        return self.as_of or iso(self.stored_at)

    def freshness(self) -> dict[str, str]:
        """What an answer from the cache says about itself: which backend produced it, when
        (`as_of`), and when it was stored."""
        return {"as_of": self.fresh_as_of, "backend": self.source, "cached_at": iso(self.stored_at)}


def scope_identity(settings: CacheSettings, principal: Principal) -> str | None:
    """Whose cache a call reads and writes; None when it may not be cached at all."""
    if settings.scope == "shared":
        return "shared"
    if settings.scope == "tenant":
        tenant = principal.attributes.get(settings.tenant_attribute)
        return None if tenant is None else f"tenant\x00{tenant}"
    user = principal.on_behalf_of.id if principal.on_behalf_of is not None else ""
    # An agent acting for user A must never be served what it fetched for user B.
    return f"principal\x00{principal.id}\x00{user}"


def partition_of(settings: CacheSettings | None) -> tuple[str, ...]:
    """The arguments a tool's cached results are grouped by, so that an event can drop one
    group for every principal at once (`invalidate_on`); () when they are not grouped."""
    if settings is None or not settings.invalidate_on:
        return ()
    return tuple(sorted(settings.invalidate_on[0].arguments))


def partition_prefix(tool: str, names: tuple[str, ...], values: Mapping[str, Any]) -> str:
    """`cache:<tool>:p<hash>:` for these argument values; a number and its digits are one value
    (an event's 12345 and a call's "12345" name the same customer)."""
    canonical = jsonsafe.dumps([[name, _plain(values.get(name))] for name in names])
    return f"cache:{tool}:p{hashlib.sha256(canonical).hexdigest()[:24]}:"


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    return str(value).lower() if isinstance(value, bool) else str(value)


def cache_key(tool: str, scope: str, arguments: Mapping[str, Any], partition: tuple[str, ...] = ()) -> str:
    canonical = jsonsafe.dumps(arguments, sort_keys=True)
    digest = hashlib.sha256(scope.encode() + b"\x00" + canonical).hexdigest()[:40]
    if partition:
        return partition_prefix(tool, partition, arguments) + digest
    return f"cache:{tool}:{digest}"


class ResultCache:
    """Reads and writes tool results; a store outage is a miss, never a failed call."""

    def __init__(self, store: KeyValueStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    async def get(self, key: str) -> CachedResult | None:
        try:
            raw = await self._store.get(key)
        except SharedStoreError as exc:
            log.warning("cache_store_unavailable", operation="get", error=str(exc))
            return None
        if raw is None:
            return None
        entry = orjson.loads(raw)
        return CachedResult(entry["r"], entry["t"], entry["s"], entry.get("a"))

    async def put(
        self, key: str, result: Any, source: str, keep_for: float, *, as_of: str | None = None
    ) -> float:
        """Store `result` (and the `as_of` its backend gave); returns its time of storage."""
        stored_at = self._clock()
        raw = jsonsafe.dumps({"r": result, "t": stored_at, "s": source, "a": as_of})
        try:
            await self._store.set(key, raw, keep_for)
        except SharedStoreError as exc:
            log.warning("cache_store_unavailable", operation="set", error=str(exc))
        return stored_at

    async def invalidate(self, tool: str, prefix: str | None = None) -> int:
        """Drop every cached result of `tool` (or those under `prefix`, one partition); how many."""
        try:
            return await self._store.delete_prefix(prefix or f"cache:{tool}:")
        except SharedStoreError as exc:
            log.warning("cache_store_unavailable", operation="invalidate", tool=tool, error=str(exc))
            return 0
