"""Composites as tools: their specs (annotations derived from their steps) and plans, checked."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.config.composites import CompositeSettings
from pasarela.contracts.registry import SchemaRegistry
from pasarela.errors import ConfigProblem
from pasarela.graphs import find_cycle
from pasarela.orchestration.plan import CompositePlan, compile_composite
from pasarela.orchestration.runner import BACKEND
from pasarela.orchestration.shapes import check_for_each

# A quarantined step tool: nothing is assumed of it (not read-only, not idempotent).
UNKNOWN = ToolSpec("unknown", "", {}, "unknown", "unknown", annotations=ToolAnnotations(destructive=True))


def composite_tools(
    composites: Mapping[str, CompositeSettings],
    tools: Mapping[str, ToolSpec],
    source: str,
    quarantined: Collection[str] = (),
    registry: SchemaRegistry | None = None,
) -> tuple[list[ToolSpec], dict[str, CompositePlan], list[ConfigProblem]]:
    """The composites' specs and plans, or the problems that stop them (each with its key path).

    A step may call a quarantined tool: the composite loads, and that step fails (409) until the
    tool is approved.
    """
    problems: list[ConfigProblem] = []
    known = set(tools) | set(composites) | set(quarantined)
    if composites and any(t.backend == BACKEND for t in tools.values()):
        # The composites' own backend name: its bulkhead, breaker and metrics would be shared.
        problems.append(
            ConfigProblem(source, f"backends.{BACKEND}", f"{BACKEND!r} is reserved for composite tools")
        )
    for name in composites:
        if name in tools:
            problems.append(
                ConfigProblem(source, f"composites.{name}", f"a backend already has a tool named {name!r}")
            )
    plans: dict[str, CompositePlan] = {}
    for name, settings in composites.items():
        if settings.output is not None and (registry is None or settings.output not in registry):
            listed = ", ".join(registry.names()) if registry is not None else ""
            problems.append(
                ConfigProblem(
                    source,
                    f"composites.{name}.output",
                    f"no schema {settings.output!r} (known: {listed or 'none'})",
                )
            )
        plan, found = compile_composite(name, settings, known, source)
        problems += found
        if plan is not None:
            plans[name] = plan
    for name, plan in plans.items():
        problems += check_for_each(plan, composites[name].input, tools, source)
    uses = {
        name: {t for s in plan.steps.values() for t in s.tools if t in composites}
        for name, plan in plans.items()
    }
    if cycle := find_cycle({name: sorted(callees) for name, callees in uses.items()}):
        problems.append(
            ConfigProblem(
                source, f"composites.{cycle[0]}", "composites call each other in a loop: " + " → ".join(cycle)
            )
        )
    if problems:
        return [], {}, problems
    specs: dict[str, ToolSpec] = {}
    for name in _callees_first(uses):
        steps = [specs.get(t) or tools.get(t) or UNKNOWN for s in plans[name].steps.values() for t in s.tools]
        output = composites[name].output
        specs[name] = ToolSpec(
            name=name,
            description=composites[name].description,
            input_schema=composites[name].input,
            backend=BACKEND,
            origin=name,
            annotations=ToolAnnotations(
                read_only=all(t.annotations.read_only for t in steps),
                destructive=any(t.annotations.destructive for t in steps),
                idempotent=all(t.annotations.idempotent for t in steps),
                open_world=any(t.annotations.open_world for t in steps),
            ),
            tags=("composite",),
            output_schema=dict(registry.get(output).schema) if registry is not None and output else None,
            output_contract=output,
        )
    return list(specs.values()), plans, []


def _callees_first(uses: Mapping[str, set[str]]) -> list[str]:
    """Composites ordered so that each comes after the composites it calls (no loops: checked)."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for callee in sorted(uses[name]):
            visit(callee)
        ordered.append(name)

    for name in sorted(uses):
        visit(name)
    return ordered
