"""One plan per tool: its settings compiled once, at load, into a frozen value.

Stages and the gateway read a tool's plan instead of walking `settings.tools` on their own:
the time limits, the cache, fallbacks and invalidations, what the audit masks, and the
compiled contract (JMESPath transform, output schema, argument map).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pasarela.config.jobs import Execution, ToolJobSettings
from pasarela.config.model import RedactSettings, Settings
from pasarela.config.traffic import CacheSettings
from pasarela.connectors.asynchronous import FollowPlan
from pasarela.contracts import ToolContract
from pasarela.protection.masking import MaskingRule


@dataclass(frozen=True, slots=True)
class ToolPlan:
    name: str
    timeout: float | None = None  # overrides the backend's
    connect_timeout: float | None = None
    cache: CacheSettings | None = None
    fallback: tuple[str, ...] = ()
    invalidates: tuple[str, ...] = ()
    sensitive_args: frozenset[str] = frozenset()
    contract: ToolContract | None = None
    masking: MaskingRule | None = None  # `redact:` fields and paths, compiled
    result_items: tuple[str, ...] = ()  # where the list a result rule filters lives
    execution: Execution = "optional"  # sync | async | optional: whether it runs as a job
    job: ToolJobSettings = field(default_factory=ToolJobSettings)
    follow: FollowPlan | None = None  # a 202 and a status URL, followed to the end


NO_PLAN = ToolPlan("")


def compile_plans(
    settings: Settings, tools: Iterable[str], contracts: Mapping[str, ToolContract]
) -> dict[str, ToolPlan]:
    """A plan for every tool in the catalog (the default plan where `tools:` says nothing)."""
    plans = {}
    for name in tools:
        tool = settings.tools.get(name)
        if tool is None:
            plans[name] = ToolPlan(name, contract=contracts.get(name))
            continue
        plans[name] = ToolPlan(
            name,
            timeout=tool.timeout,
            connect_timeout=tool.connect_timeout,
            cache=tool.cache,
            fallback=tuple(tool.fallback),
            invalidates=tuple(tool.invalidates),
            sensitive_args=frozenset(tool.sensitive_args),
            contract=contracts.get(name),
            masking=_masking(tool.redact),
            result_items=tuple(tool.result_items.split(".")) if tool.result_items else (),
            execution=tool.execution,
            job=tool.job,
            follow=FollowPlan.compile(tool.follow) if tool.follow is not None else None,
        )
    return plans


def _masking(redact: RedactSettings | None) -> MaskingRule | None:
    if redact is None or not (redact.fields or redact.paths):
        return None
    return MaskingRule.build(redact.fields, redact.paths, redact.keep_last)
