"""Fallbacks: when a backend fails, serve the last good cached value or ask another tool.

`fallback: [cache, dwh_get_customer]` tries, in order, the last good cached result (marked
`meta.cache: stale` with a warning) and then the other tool, called through the whole
pipeline as the same principal (so its own policy, limits and audit apply). If none helps,
the original error goes to the agent, naming the failed system and the fallbacks tried.
Only failures of the system fall back; a backend's answer such as 404 is the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import structlog

from pasarela.caching import ResultCache, cache_key, scope_identity
from pasarela.caching.results import partition_of
from pasarela.config.traffic import CacheSettings
from pasarela.errors import PasarelaError, UpstreamError
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.pipeline.relay import notice
from pasarela.resilience.stage import counts_against_backend
from pasarela.telemetry.metrics import GatewayMetrics

log = structlog.get_logger("pasarela.fallback")

CACHE = "cache"
# Gateway.call, bound after the gateway exists: (principal, tool, arguments, door, request id).
# (the failing call, the fallback tool, its arguments): a child call through the whole pipeline.
CallTool = Callable[[Call, str, Mapping[str, Any]], Awaitable[Outcome]]


class FallbackStage:
    name = "fallback"

    def __init__(
        self,
        fallbacks: Mapping[str, tuple[str, ...]],
        cache: ResultCache,
        cache_settings: Mapping[str, CacheSettings],
        metrics: GatewayMetrics,
    ) -> None:
        self._fallbacks = {name: chain for name, chain in fallbacks.items() if chain}
        self._cache = cache
        self._cache_settings = dict(cache_settings)
        self._metrics = metrics
        self._call_tool: CallTool | None = None

    def bind(self, call_tool: CallTool) -> None:
        self._call_tool = call_tool

    def traced(self, call: Call) -> bool:
        return call.tool.name in self._fallbacks

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        chain = self._fallbacks.get(call.tool.name)
        if chain is None:
            return await call_next(call)
        try:
            return await call_next(call)
        except UpstreamError as exc:
            if not counts_against_backend(exc):
                raise
            for option in chain:
                outcome = await (
                    self._from_cache(call, exc) if option == CACHE else self._from_tool(call, option, exc)
                )
                if outcome is not None:
                    self._metrics.fallbacks.labels(call.tool.backend, call.tool.name, option).inc()
                    notice("warning", str(outcome.meta.get("warning") or f"answered by fallback {option}"))
                    return outcome
            # A copy that says so: the stage does not edit the error another layer raised.
            raise exc.with_extra(fallbacks_tried=list(chain)) from exc.__cause__

    async def _from_cache(self, call: Call, failure: UpstreamError) -> Outcome | None:
        settings = self._cache_settings.get(call.tool.name)
        scope = scope_identity(settings, call.principal) if settings is not None else None
        if scope is None:
            return None
        entry = await self._cache.get(
            cache_key(call.tool.name, scope, call.arguments, partition_of(settings))
        )
        if entry is None:
            return None
        as_of = entry.fresh_as_of
        return Outcome(
            entry.result,
            {
                **entry.freshness(),
                "warning": f"{call.tool.backend} is unavailable ({failure.code}); this is the value cached at {as_of}",
            },
            source="cache",
            cache="stale",
            fallback=CACHE,
        )

    async def _from_tool(self, call: Call, tool: str, failure: UpstreamError) -> Outcome | None:
        assert self._call_tool is not None, "FallbackStage.bind() must run before calls"
        try:
            outcome = await self._call_tool(call, tool, call.arguments)
        except PasarelaError as exc:
            log.warning("fallback_failed", tool=call.tool.name, fallback=tool, error=exc.code)
            return None
        return replace(
            outcome.with_meta(
                warning=f"{call.tool.backend} is unavailable ({failure.code}); this answer comes from {tool}"
            ),
            fallback=tool,
        )
