"""Result policy: Cedar sees what a read-only tool returned before the agent does.

After the backend (or the cache) answers, the caller must also be permitted
`Action::"read"` on the result, with the result as `context.result`. A result the caller may
not read is refused (403, audited as a deny with the deciding policy); from a list result
(the result itself, or the list at `tools.<name>.result_items`) the items the caller may not
read are left out and counted in `meta.filtered`. The stage sits outside the cache, so a
result cached for one caller is checked again for every other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

import structlog

from pasarela.catalog import Catalog
from pasarela.catalog.spec import ToolSpec
from pasarela.config.loader import LoadedConfig
from pasarela.errors import AccessDenied, ConfigProblem
from pasarela.pipeline.authorize import Decision, PolicyRef
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.pipeline.notes import note

log = structlog.get_logger("pasarela.results")

MAX_ITEMS = 10_000  # items of one list result checked; a longer list is refused whole


class ResultAuthorizer(Protocol):
    def guards_results(self, tool: ToolSpec) -> bool: ...

    def decide_results(self, call: Call, results: Sequence[Any]) -> list[Decision]: ...


def not_checkable(why: str) -> Decision:
    """A result refused before Cedar: it cannot be shown to policies faithfully."""
    reason = f"the result cannot be checked against policy: {why}"
    return Decision(False, (PolicyRef("result-not-checkable", "forbid", "pasarela", reason),))


class ResultPolicyStage:
    name = "result_policy"

    def __init__(self, authorizer: ResultAuthorizer, items: Mapping[str, tuple[str, ...]]) -> None:
        self.authorizer = authorizer
        self.items = dict(items)

    def traced(self, call: Call) -> bool:
        return self.authorizer.guards_results(call.tool)

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        if not self.authorizer.guards_results(call.tool):
            return await call_next(call)
        outcome = await call_next(call)
        path = self.items.get(call.tool.name)
        if path is None and not isinstance(outcome.result, list):
            self._require(call, self.authorizer.decide_results(call, [outcome.result])[0])
            return outcome
        listed = outcome.result if path is None else _at(outcome.result, path)
        if not isinstance(listed, list):
            where = ".".join(path or ())
            self._require(call, not_checkable(f"it has no list at `{where}` to check item by item"))
            return outcome
        if len(listed) > MAX_ITEMS:
            self._require(call, not_checkable(f"its list holds {len(listed)} items, more than {MAX_ITEMS}"))
        decisions = self.authorizer.decide_results(call, listed)
        kept = [item for item, decision in zip(listed, decisions, strict=True) if decision.allowed]
        filtered = len(listed) - len(kept)
        if filtered:
            log.info(
                "results_filtered",
                request_id=call.request_id,
                principal=call.principal.id,
                tool=call.tool.name,
                filtered=filtered,
                policies=sorted({p.label for d in decisions if not d.allowed for p in d.policies}),
            )
        result = kept if path is None else _replaced(outcome.result, path, kept)
        return replace(outcome, result=result, meta={**outcome.meta, "filtered": filtered})

    @staticmethod
    def _require(call: Call, decision: Decision) -> None:
        if decision.allowed:
            return
        note("decision", decision)  # the audit records this refusal and the policy behind it
        log.info(
            "result_denied",
            request_id=call.request_id,
            principal=call.principal.id,
            tool=call.tool.name,
            policies=[p.label for p in decision.policies if p.effect == "forbid"] or ["(no permit)"],
        )
        because = "; ".join(decision.reasons)
        detail = f"principal {call.principal.id!r} may not read this result of tool {call.tool.name!r}"
        raise AccessDenied(detail + (f": {because}" if because else ""), tool=call.tool.name)


def _at(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _replaced(value: Any, path: Sequence[str], items: list[Any]) -> Any:
    """A copy of `value` with the list at `path` replaced (the original may be cached)."""
    if not path:
        return items
    return {**value, path[0]: _replaced(value[path[0]], path[1:], items)}


def check_result_items(catalog: Catalog, config: LoadedConfig) -> list[ConfigProblem]:
    """Results are checked for read-only tools only: what a write returns, it has already done."""
    problems = []
    for name, tool in config.settings.tools.items():
        if tool.result_items and name in catalog and not catalog.get(name).annotations.read_only:
            problems.append(
                ConfigProblem(
                    config.source,
                    f"tools.{name}.result_items",
                    "result policies apply to read-only tools only: this tool may change data",
                )
            )
    return problems
