"""Argument mapping: agents speak the agreed names, the backend receives its own.

`tools.<t>.arguments.rename` maps an agent-facing name to the backend's (`customer_id:
customerId`), `fixed` sends a value on every call that agents never see or set. The tool's
input schema is rewritten to match, so validation, policy (`context.args`), the audit trail
and cache keys all use the agent's names; the names are mapped just before the backend call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from jsonschema import Draft202012Validator

from pasarela.catalog.spec import ToolSpec
from pasarela.config.model import ArgumentMapSettings
from pasarela.errors import ConfigProblem


@dataclass(frozen=True, slots=True)
class ArgumentMap:
    """Agent name → backend name, and values always sent."""

    rename: Mapping[str, str]
    fixed: Mapping[str, Any]

    def apply(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        mapped = {self.rename.get(name, name): value for name, value in arguments.items()}
        mapped.update(self.fixed)
        return mapped


def argument_map(settings: ArgumentMapSettings) -> ArgumentMap:
    return ArgumentMap(dict(settings.rename), dict(settings.fixed))


def map_input_schema(
    spec: ToolSpec, settings: ArgumentMapSettings, source: str
) -> tuple[ToolSpec, list[ConfigProblem]]:
    """The spec with the agent-facing input schema, or the spec unchanged and the problems."""
    where = f"tools.{spec.name}.arguments"
    schema = spec.input_schema
    properties: Mapping[str, Any] = schema.get("properties") or {}
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str) -> None:
        problems.append(ConfigProblem(source, f"{where}.{key}", message))

    known = ", ".join(properties) or "none"
    backend_names = list(settings.rename.values())
    for agent_name, backend_name in settings.rename.items():
        if backend_name not in properties:
            problem(
                f"rename.{agent_name}",
                f"{spec.name} has no argument {backend_name!r} to rename (its arguments: {known})",
            )
        elif agent_name in properties and agent_name not in backend_names:
            problem(
                f"rename.{agent_name}",
                f"{spec.name} already has an argument {agent_name!r}; pick another name",
            )
        elif backend_name in settings.fixed:
            problem(f"rename.{agent_name}", f"{backend_name!r} is also fixed; choose one")
    if len(set(backend_names)) != len(backend_names):
        problem("rename", "two agent names map to the same backend argument")
    for name, value in settings.fixed.items():
        if name not in properties:
            problem(f"fixed.{name}", f"{spec.name} has no argument {name!r} (its arguments: {known})")
            continue
        error = next(iter(Draft202012Validator(properties[name]).iter_errors(value)), None)
        if error is not None:
            problem(f"fixed.{name}", f"{value!r} is not accepted: {error.message}")
    if problems:
        return spec, problems
    agent_name_of = {backend: agent for agent, backend in settings.rename.items()}
    mapped: dict[str, Any] = dict(schema)
    mapped["properties"] = {
        agent_name_of.get(name, name): prop for name, prop in properties.items() if name not in settings.fixed
    }
    if "required" in schema:
        mapped["required"] = [
            agent_name_of.get(name, name) for name in schema["required"] if name not in settings.fixed
        ]
    return replace(spec, input_schema=mapped), []
