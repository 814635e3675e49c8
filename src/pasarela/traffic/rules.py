"""Which calls a limit or quota rule governs, and which counter each call charges.

Rules are compiled once per configuration: for each tool, the rules that can apply to it, so
a call only checks principals and roles against a handful of candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Generic, Protocol, TypeVar

from pasarela.catalog.spec import ToolSpec
from pasarela.config.traffic import KeyDimension
from pasarela.identity.principal import Principal


class Rule(Protocol):
    @property
    def scope(self) -> Scope: ...

    @property
    def key(self) -> tuple[KeyDimension, ...]: ...


R = TypeVar("R", bound=Rule)


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a rule applies: empty sets match anything."""

    principals: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    tools: frozenset[str] = frozenset()
    backends: frozenset[str] = frozenset()

    def covers_tool(self, tool: ToolSpec) -> bool:
        if not self.tools and not self.backends:
            return True
        return tool.name in self.tools or tool.backend in self.backends

    def matched_roles(self, principal: Principal) -> frozenset[str] | None:
        """The principal's roles this scope matches, or None when it does not apply to them."""
        if not self.principals and not self.roles:
            return principal.roles
        if principal.id in self.principals:
            return principal.roles & self.roles if self.roles else principal.roles
        matched = principal.roles & self.roles
        return matched or None


def counter_keys(
    key: Sequence[KeyDimension], principal: Principal, tool: ToolSpec, roles: Iterable[str]
) -> list[str]:
    """One counter per combination of the key's dimensions ([] = one counter for all)."""
    choices: list[list[str]] = []
    for dimension in key:
        if dimension == "principal":
            choices.append([f"principal={principal.id}"])
        elif dimension == "tool":
            choices.append([f"tool={tool.name}"])
        elif dimension == "backend":
            choices.append([f"backend={tool.backend}"])
        else:
            # A principal with two matching roles charges both roles' counters.
            choices.append([f"role={role}" for role in sorted(roles)] or ["role="])
    return ["|".join(parts) for parts in product(*choices)]


class RuleBook(Generic[R]):
    """The rules of one kind (limits or quotas), indexed by the tools they can apply to."""

    def __init__(self, rules: Sequence[R], tools: Iterable[ToolSpec]) -> None:
        self._by_tool: Mapping[str, tuple[R, ...]] = {
            tool.name: tuple(rule for rule in rules if rule.scope.covers_tool(tool)) for tool in tools
        }

    def counters(self, principal: Principal, tool: ToolSpec) -> Iterator[tuple[R, str]]:
        """Each (rule, counter) a call by `principal` to `tool` charges, in rule order."""
        for rule in self._by_tool.get(tool.name, ()):
            roles = rule.scope.matched_roles(principal)
            if roles is not None:
                for counter in counter_keys(rule.key, principal, tool, roles):
                    yield rule, counter
