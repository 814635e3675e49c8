"""The catalog: every tool the gateway serves, by final name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from pasarela.catalog.spec import TOOL_NAME_PATTERN, ToolSpec
from pasarela.errors import ConfigError, ConfigProblem, ToolNotFound, ToolQuarantined


class Catalog:
    """An immutable set of tools with unique, valid names."""

    def __init__(
        self,
        tools: Iterable[ToolSpec],
        *,
        source: str = "<config>",
        quarantined: Mapping[str, str] | None = None,
    ) -> None:
        """`quarantined` maps tool names to why they are held back: not listed, not callable."""
        self._quarantined = dict(quarantined or {})
        self._tools: dict[str, ToolSpec] = {}
        problems: list[ConfigProblem] = []
        for spec in tools:
            if not TOOL_NAME_PATTERN.match(spec.name):
                problems.append(
                    ConfigProblem(
                        source,
                        f"backends.{spec.backend}",
                        f"tool name {spec.name!r} is not valid: expected 1-64 characters of A-Z a-z 0-9 _ -",
                    )
                )
                continue
            if spec.name in self._quarantined:
                continue
            if (other := self._tools.get(spec.name)) is not None:
                problems.append(
                    ConfigProblem(
                        source,
                        f"backends.{spec.backend}.tools.rename",
                        f"tool name {spec.name!r} is already used by backend {other.backend!r}; "
                        "rename one of them",
                    )
                )
                continue
            self._tools[spec.name] = spec
        if problems:
            raise ConfigError(problems)

    def get(self, name: str) -> ToolSpec:
        try:
            return self._tools[name]
        except KeyError:
            if name in self._quarantined:
                raise ToolQuarantined(self._quarantined[name], tool=name) from None
            raise ToolNotFound(f"there is no tool named {name!r}", tool=name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def quarantined(self) -> list[str]:
        return list(self._quarantined)
