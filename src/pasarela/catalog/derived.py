"""Derived tools: a new tool name over an existing tool's operation (`tools.<new>.from`).

Serving `get_customer_v1` and `get_customer_v2` side by side, each with its own transform
and output schema, is how a tool's shape evolves without breaking agents built on the old
one. A derived tool calls the same backend operation as its base, is held back whenever its
base is quarantined, and otherwise has its own settings (description, policy, limits).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from pasarela.catalog.spec import ToolSpec
from pasarela.config.model import ToolSettings
from pasarela.errors import ConfigProblem


def derive_tools(
    tools: Sequence[ToolSpec],
    quarantined: Mapping[str, str],
    settings: Mapping[str, ToolSettings],
    source: str,
) -> tuple[list[ToolSpec], dict[str, str], list[ConfigProblem]]:
    """The tools with the derived ones appended, the quarantine extended to them, and problems."""
    by_name = {spec.name: spec for spec in tools}
    known = set(by_name) | set(quarantined)
    derived: list[ToolSpec] = []
    held = dict(quarantined)
    problems: list[ConfigProblem] = []
    for name, tool in settings.items():
        base_name = tool.derived_from
        if base_name is None:
            continue
        where = f"tools.{name}.from"
        if name in known:
            problems.append(
                ConfigProblem(source, where, f"{name!r} is already a tool of a backend; pick a new name")
            )
        elif base_name in settings and settings[base_name].derived_from is not None:
            problems.append(
                ConfigProblem(source, where, f"{base_name!r} is itself derived; derive from its base")
            )
        elif base_name not in known:
            problems.append(ConfigProblem(source, where, f"no tool named {base_name!r} to derive from"))
        elif base_name in quarantined:
            held[name] = f"{quarantined[base_name]} (it is derived from {base_name})"
        else:
            derived.append(replace(by_name[base_name], name=name))
    return [*tools, *derived], held, problems
