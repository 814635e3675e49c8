"""`tools.<name>.cache.invalidate_on`: an event drops the cached results it makes stale, for
every principal (each process drops its own memory cache; with redis:// all share one).

A tool's cached results are grouped by the arguments its rules name (caching/results.py), so
`customer_updated` for customer 12345 drops the group of `customer_id = 12345` and nothing else."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jmespath
import structlog
from jmespath.parser import ParsedResult

from pasarela.caching.results import ResultCache, partition_prefix
from pasarela.config.traffic import CacheSettings
from pasarela.events.model import Event
from pasarela.telemetry import GatewayMetrics

log = structlog.get_logger("pasarela.events")


@dataclass(frozen=True, slots=True)
class Invalidation:
    tool: str
    event: str  # a type or a glob
    arguments: tuple[tuple[str, ParsedResult], ...]  # sorted by name: the partition's order


def compile_invalidations(cache: Mapping[str, CacheSettings]) -> list[Invalidation]:
    return [
        Invalidation(
            tool,
            rule.event,
            tuple((name, jmespath.compile(rule.arguments[name])) for name in sorted(rule.arguments)),
        )
        for tool, settings in cache.items()
        for rule in settings.invalidate_on
    ]


class Freshness:
    """A tail hook: drop what each event makes stale."""

    def __init__(
        self, rules: Sequence[Invalidation], cache: ResultCache, metrics: GatewayMetrics | None = None
    ) -> None:
        self.rules = list(rules)
        self.cache = cache
        self.metrics = metrics

    async def __call__(self, events: Sequence[Event]) -> None:
        for event in events:
            for rule in self.rules:
                if fnmatch.fnmatchcase(event.type, rule.event):
                    await self._drop(rule, event)

    async def _drop(self, rule: Invalidation, event: Event) -> None:
        if not rule.arguments:
            dropped = await self.cache.invalidate(rule.tool)
        else:
            context = event.context()
            values = {name: expression.search(context) for name, expression in rule.arguments}
            if any(value is None for value in values.values()):
                log.warning(
                    "events_invalidation_skipped",
                    tool=rule.tool,
                    event_type=event.type,
                    missing=[n for n, v in values.items() if v is None],
                )
                return
            names = tuple(name for name, _ in rule.arguments)
            dropped = await self.cache.invalidate(rule.tool, partition_prefix(rule.tool, names, values))
        if self.metrics is not None:
            self.metrics.events_invalidated.labels(rule.tool).inc(dropped)
