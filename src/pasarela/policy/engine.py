"""The Cedar authorizer: deny by default, `forbid` wins, a shadow set that only logs.

Principal `Agent::"<id>"` in `Role::"<role>"`; action `Action::"call"` or `Action::"list"`;
resource `Tool::"<name>"` in `Backend::"<backend>"`; context `{args, now, door}`. The policy
set and entities are parsed once per configuration; a decision costs a Cedar evaluation
(~0.1 ms, docs/performance.md).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cedarpy
import structlog

from pasarela.catalog.spec import ToolSpec
from pasarela.identity.principal import Principal
from pasarela.pipeline.authorize import Decision, PolicyRef
from pasarela.pipeline.call import Call
from pasarela.policy.entities import EntityStore
from pasarela.policy.sources import ACCESS_POLICY, PolicySource, describe
from pasarela.policy.values import cedar_value, now_context, user_context

log = structlog.get_logger("pasarela.policy")

# Listing asks Cedar once per tool; a short cache keeps a large catalog cheap to list.
# Calls are always decided afresh.
LIST_CACHE_SECONDS = 10.0
LIST_CACHE_ENTRIES = 10_000


@dataclass(slots=True)
class _PolicySet:
    parsed: cedarpy.PolicySet
    info: dict[str, PolicyRef] = field(default_factory=dict)

    @classmethod
    def build(cls, sources: Sequence[PolicySource]) -> _PolicySet:
        texts: list[str] = []
        infos: list[PolicyRef] = []
        for source in sources:
            described = describe(source)
            if isinstance(described, str):  # checked at config load; unreachable after that
                raise ValueError(f"{source.label}: not valid Cedar: {described}")
            texts.append(source.text)
            infos.extend(described)
        parsed = cedarpy.PolicySet.from_str("\n".join(texts))
        return cls(parsed, {f"policy{i}": info for i, info in enumerate(infos)})

    def decide(self, request: Mapping[str, Any], entities: cedarpy.Entities) -> Decision:
        result = cedarpy.is_authorized(dict(request), self.parsed, entities)
        diagnostics = result.diagnostics
        errors = tuple(diagnostics.errors)
        # Cedar skips a policy whose evaluation fails; for a forbid that would fail open (an
        # argument of an unexpected type slipping past a limit). A forbid that errs denies.
        failed_forbids = tuple(
            self.info[ref]
            for ref in _failed_policies(errors)
            if ref in self.info and self.info[ref].effect == "forbid"
        )
        if failed_forbids:
            return Decision(allowed=False, policies=failed_forbids, errors=errors)
        return Decision(
            allowed=result.allowed,
            policies=tuple(self.info[r] for r in diagnostics.reasons if r in self.info),
            errors=errors,
        )


_FAILED_POLICY = re.compile(r"policy `(policy\d+)`")


def _failed_policies(errors: Sequence[str]) -> list[str]:
    return [m.group(1) for e in errors if (m := _FAILED_POLICY.search(e))]


class CedarAuthorizer:
    def __init__(
        self,
        access: Mapping[str, Sequence[str]],
        policies: Sequence[PolicySource],
        principals: Iterable[Principal],
        tools: Iterable[ToolSpec],
    ) -> None:
        # `access:` is one policy over entity attributes, so its cost does not grow with roles.
        sources = [PolicySource("access", ACCESS_POLICY, "access"), *policies]
        enforced = [s for s in sources if not s.shadow]
        self._enforced = _PolicySet.build(enforced)
        shadows = [s for s in sources if s.shadow]
        # The shadow set is the enforced set plus the log_only policies: what enforcing them would do.
        self._shadow = _PolicySet.build([*enforced, *shadows]) if shadows else None
        self._entities = EntityStore(principals, tools, access)
        self._listed: dict[tuple[str, ...], tuple[float, frozenset[str]]] = {}

    # -- the Authorizer protocol -------------------------------------------------------------

    def decide(self, call: Call, action: str = "call") -> Decision:
        return self.explain(call.principal, call.tool, call.arguments, door=call.door, action=action)

    def visible(self, principal: Principal, tools: Iterable[ToolSpec], door: str) -> list[ToolSpec]:
        tools = list(tools)
        # Keyed by everything a policy can see of the principal, not just its id.
        user = principal.on_behalf_of
        key = (
            principal.id,
            door,
            repr(sorted(principal.roles)),
            repr(sorted(principal.attributes.items())),
            repr((user.id, sorted(user.roles), sorted(user.attributes.items()))) if user else "",
        )
        now = time.monotonic()
        cached = self._listed.get(key)
        if cached is not None and cached[0] > now:
            allowed = cached[1]
        else:
            context = self._context(principal, {}, door)  # one context for the whole listing
            allowed = frozenset(t.name for t in tools if self._decide(principal, t, "list", context).allowed)
            if len(self._listed) >= LIST_CACHE_ENTRIES:
                self._listed.clear()
            self._listed[key] = (now + LIST_CACHE_SECONDS, allowed)
        return [t for t in tools if t.name in allowed]

    # -- decisions ---------------------------------------------------------------------------

    def explain(
        self,
        principal: Principal,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        *,
        door: str,
        action: str = "call",
    ) -> Decision:
        return self._decide(principal, tool, action, self._context(principal, arguments, door))

    @staticmethod
    def _context(principal: Principal, arguments: Any, door: str) -> dict[str, Any]:
        """`{args, now, door[, on_behalf_of]}`. Authorization runs before validation: arguments
        that are not an object give `args: {}` here and are then refused by validation."""
        args = cedar_value(arguments) if isinstance(arguments, Mapping) else {}
        context = {"args": args, "now": now_context(dt.datetime.now(dt.UTC)), "door": door}
        if principal.on_behalf_of is not None:
            context["on_behalf_of"] = user_context(principal.on_behalf_of)
        return context

    def _name_granting_role(self, decision: Decision, principal: Principal, tool: ToolSpec) -> Decision:
        """Say which role's grant permitted the call (`access.<role>`), not just "access"."""
        if not any(p.label == "access" for p in decision.policies):
            return decision
        roles = sorted(principal.roles & self._entities.granted.get(tool.name, frozenset()))
        granting = tuple(
            replace(p, label=f"access.{roles[0]}") if p.label == "access" and roles else p
            for p in decision.policies
        )
        return replace(decision, policies=granting)

    def _decide(self, principal: Principal, tool: ToolSpec, action: str, context: dict[str, Any]) -> Decision:
        entities = self._entities.for_principal(principal)
        request = {
            "principal": {"type": "Agent", "id": principal.id},
            "action": {"type": "Action", "id": action},
            "resource": {"type": "Tool", "id": tool.name},
            "context": context,
        }
        decision = self._name_granting_role(self._enforced.decide(request, entities), principal, tool)
        if decision.errors:
            log.warning("policy_errors", tool=tool.name, principal=principal.id, errors=list(decision.errors))
        if self._shadow is None:
            return decision
        shadow = self._name_granting_role(self._shadow.decide(request, entities), principal, tool)
        if shadow.allowed != decision.allowed:
            log.info(
                "policy_shadow_differs",
                action=action,
                tool=tool.name,
                principal=principal.id,
                enforced="allow" if decision.allowed else "deny",
                shadow="allow" if shadow.allowed else "deny",
                shadow_policies=[p.label for p in shadow.policies],
            )
        return Decision(decision.allowed, decision.policies, decision.errors, shadow)
