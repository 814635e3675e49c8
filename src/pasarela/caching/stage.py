"""The cache stage: serve fresh results of read-only tools, store new ones, invalidate on writes.

Results carry `meta.cache` (hit | miss | stale, or bypass when the call may not be cached),
`meta.source` (the backend, or `cache`) and `meta.as_of` (when the backend produced the data,
ISO 8601 UTC); an answer from the cache also names the `backend` it came from and when it was
stored (`cached_at`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from pasarela.caching.results import ResultCache, cache_key, partition_of, scope_identity
from pasarela.config.traffic import CacheSettings
from pasarela.pipeline.call import Call, Next, Outcome, iso
from pasarela.telemetry.metrics import GatewayMetrics


class CacheStage:
    name = "cache"

    def __init__(
        self,
        cache: ResultCache,
        settings: Mapping[str, CacheSettings],
        invalidates: Mapping[str, tuple[str, ...]],
        keep_stale: frozenset[str],
        metrics: GatewayMetrics,
    ) -> None:
        self._cache = cache
        # Only tools with a positive ttl are cached; `ttl: 0` means never.
        self._settings = {name: s for name, s in settings.items() if s.ttl > 0}
        self._invalidates = dict(invalidates)
        self._keep_stale = keep_stale  # tools whose fallback may serve a stale copy
        self._metrics = metrics

    def traced(self, call: Call) -> bool:
        return call.tool.name in self._settings or call.tool.name in self._invalidates

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        settings = self._settings.get(call.tool.name)
        if settings is None:
            outcome = await call_next(call)
            for tool in self._invalidates.get(call.tool.name, ()):
                await self._cache.invalidate(tool)
            return outcome
        scope = scope_identity(settings, call.principal)
        if scope is None:  # scope tenant, but this principal has no tenant: never share by accident
            self._metrics.cache.labels(call.tool.backend, call.tool.name, "bypass").inc()
            return replace(await call_next(call), cache="bypass")
        key = cache_key(call.tool.name, scope, call.arguments, partition_of(settings))
        entry = await self._cache.get(key)
        if entry is not None and entry.age(self._cache.now()) < settings.ttl:
            self._metrics.cache.labels(call.tool.backend, call.tool.name, "hit").inc()
            return Outcome(entry.result, entry.freshness(), source="cache", cache="hit")
        outcome = await call_next(call)
        if outcome.fallback is not None:
            # A stale copy or another system's answer: never stored as this tool's fresh result.
            return outcome
        self._metrics.cache.labels(call.tool.backend, call.tool.name, "miss").inc()
        keep_for = settings.ttl + (settings.stale_for if call.tool.name in self._keep_stale else 0.0)
        source = outcome.source or call.tool.backend
        as_of = outcome.meta.get("as_of")
        stored_at = await self._cache.put(
            key, outcome.result, source, keep_for, as_of=as_of if isinstance(as_of, str) else None
        )
        if not isinstance(as_of, str):
            outcome = outcome.with_meta(as_of=iso(stored_at))
        return replace(outcome, cache="miss")
