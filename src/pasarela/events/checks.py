"""What `pasarela check` says about `events:` and `invalidate_on`: every name must exist."""

from __future__ import annotations

from collections.abc import Sequence

from pasarela.catalog import Catalog
from pasarela.config.loader import LoadedConfig
from pasarela.contracts.registry import SchemaRegistry
from pasarela.errors import ConfigProblem
from pasarela.policy.sources import PolicySource, referenced_tools
from pasarela.protection import PathError, parse_path


def event_types(config: LoadedConfig) -> list[str]:
    """The event types the configuration knows: from the sources' rules and `events.types`."""
    events = config.settings.events
    found = {rule.type for source in events.sources.values() for rule in source.events}
    return sorted(found | set(events.types))


def check_events(
    config: LoadedConfig, catalog: Catalog, registry: SchemaRegistry, sources: Sequence[PolicySource]
) -> list[ConfigProblem]:
    settings = config.settings
    problems: list[ConfigProblem] = []

    def problem(path: str, message: str) -> None:
        problems.append(ConfigProblem(config.source, path, message))

    for name, source in settings.events.sources.items():
        for index, rule in enumerate(source.events):
            if rule.schema_ is not None and rule.schema_ not in registry:
                known = ", ".join(registry.names()) or "none"
                problem(
                    f"events.sources.{name}.events[{index}].schema",
                    f"no schema {rule.schema_!r} in schemas: (known: {known})",
                )
    for name, kind in settings.events.types.items():
        for index, path in enumerate(kind.redact.paths if kind.redact else []):
            try:
                parse_path(path)
            except PathError as exc:
                problem(f"events.types.{name}.redact.paths[{index}]", str(exc))
    for tool, item in settings.tools.items():
        if item.cache is None or not item.cache.invalidate_on or tool not in catalog:
            continue
        accepted = set(catalog.get(tool).input_schema.get("properties", {}))
        for index, invalidation in enumerate(item.cache.invalidate_on):
            for argument in invalidation.arguments:
                if argument not in accepted:
                    problem(
                        f"tools.{tool}.cache.invalidate_on[{index}].arguments.{argument}",
                        f"{tool} has no argument {argument!r} (it takes: {', '.join(sorted(accepted)) or 'none'})",
                    )
    # Sources without rules take any CloudEvent's type: then no list of types is complete.
    if all(source.events for source in settings.events.sources.values()):
        types = set(event_types(config))
        for policy in sources:
            for name in sorted(referenced_tools(policy, "EventType") - types):
                problem(
                    policy.key_path,
                    f'EventType::"{name}" names no event type of events.sources or events.types',
                )
    return problems
