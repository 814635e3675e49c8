"""What the schemas say a `for_each` walks over: a load-time check that it is a list.

Only simple paths are checked (`input.a.b`, `steps.s.a.b`) against the composite's input schema
or the step tool's output schema; anything the schemas do not describe is left to run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jmespath.parser import ParsedResult

from pasarela.catalog.spec import ToolSpec
from pasarela.errors import ConfigProblem
from pasarela.orchestration.plan import CompositePlan


def _path(node: Any) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything but plain fields."""
    if isinstance(node, dict) and node.get("type") == "field":
        return [str(node["value"])]
    if isinstance(node, dict) and node.get("type") == "subexpression":
        parts: list[str] = []
        for child in node.get("children", []):
            found = _path(child)
            if found is None:
                return None
            parts += found
        return parts
    return None


def _walk(schema: Mapping[str, Any] | None, fields: list[str]) -> Mapping[str, Any] | None:
    for field in fields:
        if not isinstance(schema, Mapping):
            return None
        properties = schema.get("properties")
        if not isinstance(properties, Mapping) or field not in properties:
            return None
        schema = properties[field]
    return schema


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list) and all(isinstance(t, str) for t in declared):
        return set(declared)
    return None


def check_for_each(
    plan: CompositePlan, input_schema: Mapping[str, Any], tools: Mapping[str, ToolSpec], source: str
) -> list[ConfigProblem]:
    problems = []
    for step in plan.steps.values():
        expression: ParsedResult | None = step.for_each
        path = _path(expression.parsed) if expression is not None else None
        if not path:
            continue
        if path[0] == "input":
            schema, where = _walk(input_schema, path[1:]), "the composite's input schema"
        elif path[0] == "steps" and len(path) > 1 and path[1] in plan.steps:
            source_step = plan.steps[path[1]]
            spec = tools.get(source_step.tools[0]) if len(source_step.tools) == 1 else None
            schema = _walk(spec.output_schema, path[2:]) if spec is not None and spec.output_schema else None
            where = f"{source_step.tools[0]}'s output schema"
        else:
            continue
        types = _types(schema) if schema is not None else None
        if types is not None and "array" not in types:
            problems.append(
                ConfigProblem(
                    source,
                    f"composites.{plan.name}.steps.{step.name}.for_each",
                    f"{'.'.join(path)} is {' or '.join(sorted(types))} in {where}, not a list",
                )
            )
    return problems
