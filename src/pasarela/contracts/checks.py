"""Configuration checks for transforms and declared outputs, and the tool specs they imply."""

from __future__ import annotations

from dataclasses import replace

import jmespath
from jmespath.exceptions import JMESPathError

from pasarela.catalog.spec import ToolSpec
from pasarela.config.loader import LoadedConfig
from pasarela.contracts.arguments import argument_map, map_input_schema
from pasarela.contracts.registry import SchemaRegistry
from pasarela.contracts.stage import ToolContract
from pasarela.errors import ConfigProblem


def check_contracts(config: LoadedConfig, registry: SchemaRegistry) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for name, tool in config.settings.tools.items():
        if tool.transform is not None:
            try:
                jmespath.compile(tool.transform)
            except JMESPathError as exc:
                message = str(exc).replace("\n", " ")
                problems.append(
                    ConfigProblem(
                        config.source,
                        f"tools.{name}.transform",
                        f"not a valid JMESPath expression: {message}",
                    )
                )
        if tool.output is not None:
            if tool.output not in registry:
                known = ", ".join(registry.names()) or "none are registered under schemas:"
                problems.append(
                    ConfigProblem(
                        config.source, f"tools.{name}.output", f"no schema {tool.output!r} (known: {known})"
                    )
                )
            elif registry.get(tool.output).schema.get("type") != "object":
                problems.append(
                    ConfigProblem(
                        config.source,
                        f"tools.{name}.output",
                        f"{tool.output} must describe an object (type: object): MCP output schemas are objects",
                    )
                )
    return problems


def tool_contracts(config: LoadedConfig, registry: SchemaRegistry) -> dict[str, ToolContract]:
    contracts = {}
    for name, tool in config.settings.tools.items():
        if tool.transform is not None or tool.output is not None or tool.arguments is not None:
            contracts[name] = ToolContract(
                jmespath.compile(tool.transform) if tool.transform is not None else None,
                registry.get(tool.output) if tool.output is not None else None,
                argument_map(tool.arguments) if tool.arguments is not None else None,
            )
    return contracts


def with_contract(
    spec: ToolSpec, config: LoadedConfig, registry: SchemaRegistry
) -> tuple[ToolSpec, list[ConfigProblem]]:
    """The spec agents see, and any problems with its argument map.

    A declared output schema replaces the backend's; a transform without one leaves no output
    schema (the backend's no longer describes the result); an argument map rewrites the input.
    """
    settings = config.settings.tools.get(spec.name)
    if settings is None:
        return spec, []
    problems: list[ConfigProblem] = []
    if settings.arguments is not None:
        spec, problems = map_input_schema(spec, settings.arguments, config.source)
    if settings.output is not None and settings.output in registry:  # unknown names: check_contracts
        contract = registry.get(settings.output)
        spec = replace(spec, output_schema=dict(contract.schema), output_contract=settings.output)
    elif settings.transform is not None:
        spec = replace(spec, output_schema=None)
    return spec, problems
