"""The Cedar authorizer: deny by default, `forbid` wins, a shadow set that only logs.

Principal `Agent::"<id>"` in `Role::"<role>"`; action `Action::"call"`, `Action::"list"`,
`Action::"unmask"`, `Action::"read"` (a result, after the backend answered), `Action::"sample"` or
`Action::"elicit"` (an upstream MCP server asking the agent during a call); resource
`Tool::"<name>"` in `Backend::"<backend>"`; context `{args, now, door[, on_behalf_of][, result]}`.
The policy set and entities are parsed once per configuration, and each (tool, action) is
decided by only the policies whose scope can match it (policy/scopes.py).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson
import structlog

from pasarela.catalog.spec import ToolSpec
from pasarela.identity.principal import Principal
from pasarela.pipeline.authorize import Decision
from pasarela.pipeline.call import Call
from pasarela.pipeline.results import not_checkable
from pasarela.policy.entities import EntityStore, principal_key
from pasarela.policy.policyset import PolicySet
from pasarela.policy.scopes import Resource, event_type_resource, tool_resource
from pasarela.policy.sources import ACCESS_POLICY, READ_POLICY, RECEIVE_POLICY, RELAY_POLICY, PolicySource
from pasarela.policy.values import NotCheckable, cedar_value, now_context, result_value, user_context

log = structlog.get_logger("pasarela.policy")

# Listing asks Cedar once per tool; a short cache keeps a large catalog cheap to list.
# Calls are always decided afresh.
LIST_CACHE_SECONDS = 10.0
LIST_CACHE_ENTRIES = 10_000
SETTLED_ENTRIES = 50_000
READ = "read"


def _now() -> dict[str, Any]:
    """`context.now`, worked out once a second (it has a resolution of a minute)."""
    second = int(time.time())
    cached = _now_cache.get(second)
    if cached is None:
        cached = now_context(dt.datetime.fromtimestamp(second, dt.UTC))
        _now_cache.clear()
        _now_cache[second] = cached
    return cached


_now_cache: dict[int, dict[str, Any]] = {}


class CedarAuthorizer:
    def __init__(
        self,
        access: Mapping[str, Sequence[str]],
        policies: Sequence[PolicySource],
        principals: Iterable[Principal],
        tools: Iterable[ToolSpec],
        event_types: Iterable[str] = (),
        content: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """`content`: the Cedar entities of MCP resources and prompts (content/model.py)."""
        # `access:` is one policy over entity attributes, so its cost does not grow with roles.
        # Reading a result is permitted by the call itself; result rules are forbids.
        builtin = [
            PolicySource("access", ACCESS_POLICY, "access"),
            PolicySource("read", READ_POLICY, "read"),
            PolicySource("receive", RECEIVE_POLICY, "receive"),
            PolicySource("relay", RELAY_POLICY, "relay"),
        ]
        sources = [*builtin, *policies]
        enforced = [s for s in sources if not s.shadow]
        self._enforced = PolicySet.build(enforced)
        shadows = [s for s in sources if s.shadow]
        # The shadow set is the enforced set plus the log_only policies: what enforcing them would do.
        self._shadow = PolicySet.build([*enforced, *shadows]) if shadows else None
        self._entities = EntityStore(principals, tools, access, event_types, content)
        self._listed: dict[tuple[str, ...], tuple[float, frozenset[str]]] = {}
        # Decisions that read no context depend only on who asks for what: decided once each.
        self._settled: dict[tuple[bytes, str, str, str], Decision] = {}

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
            # A listing no policy can change with the time or the door holds until the policies
            # do (a reload builds a new engine); otherwise it is decided again after a while.
            timeless = self._shadow is None and all(
                self._context_keys(t, "list") == frozenset() for t in tools
            )
            self._listed[key] = (math.inf if timeless else now + LIST_CACHE_SECONDS, allowed)
        return [t for t in tools if t.name in allowed]

    # -- the ResultAuthorizer protocol (pipeline/results.py) ---------------------------------

    def guards_results(self, tool: ToolSpec) -> bool:
        """Could a policy withhold a result of `tool`? (Read-only tools only.)"""
        if not tool.annotations.read_only:
            return False
        sets = [self._enforced, self._shadow] if self._shadow is not None else [self._enforced]
        return any(s.slice(tool.name, tool.backend, READ).guards_results for s in sets)

    def decide_results(self, call: Call, results: Sequence[Any]) -> list[Decision]:
        """One decision per result (or list item): may the caller read it?"""
        keys = self._context_keys(call.tool, READ)
        fields = self._result_fields(call.tool)
        base = self._context(call.principal, call.arguments, call.door, keys)
        reads = keys is None or "result" in keys
        decisions: list[Decision | None] = []
        contexts: list[dict[str, Any]] = []
        for value in results:
            if fields is not None and isinstance(value, Mapping):
                value = {k: v for k, v in value.items() if k in fields}  # noqa: PLW2901 - only what policies read
            try:
                contexts.append({**base, "result": result_value(value)} if reads else base)
                decisions.append(None)
            except NotCheckable as exc:
                decisions.append(not_checkable(str(exc)))
        decided = iter(self._decide_many(call.principal, call.tool, READ, contexts))
        return [d if d is not None else next(decided) for d in decisions]

    # -- events (events/access.py) -----------------------------------------------------------

    def decide_event(
        self,
        principal: Principal,
        event_type: str,
        action: str,
        event: Mapping[str, Any] | None = None,
        *,
        door: str = "rest",
    ) -> Decision:
        """`Action::"subscribe"` (no event), `"receive"` (with the event as `context.event`) or
        `"unmask"` on `EventType::"<event_type>"`. An event Cedar cannot be shown faithfully is
        not received (fail closed)."""
        resource = event_type_resource(event_type)
        keys = self._context_keys(resource, action)
        context = self._context(principal, {}, door, keys)
        context.pop("args", None)
        if event is not None and (keys is None or "event" in keys):
            try:
                context["event"] = result_value(dict(event))
            except NotCheckable as exc:
                return not_checkable(str(exc))
        return self._decide(principal, resource, action, context)

    # -- MCP resources and prompts (content/access.py) ----------------------------------------

    def decide_on(
        self,
        principal: Principal,
        resource: Resource,
        action: str,
        arguments: Mapping[str, Any],
        *,
        door: str,
    ) -> Decision:
        """`action` on any resource other than a tool (e.g. `Action::"get_prompt"` on
        `Prompt::"<name>"`), with `arguments` as `context.args`."""
        keys = self._context_keys(resource, action)
        return self._decide(principal, resource, action, self._context(principal, arguments, door, keys))

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
        keys = self._context_keys(tool, action)
        return self._decide(principal, tool, action, self._context(principal, arguments, door, keys))

    def _context_keys(self, tool: ToolSpec | Resource, action: str) -> frozenset[str] | None:
        """The parts of the context any policy for this resource and action reads (None: all)."""
        resource = tool if isinstance(tool, Resource) else tool_resource(tool.name, tool.backend)
        keys = self._enforced.slice_for(resource, action).context_keys
        if self._shadow is not None and keys is not None:
            shadow = self._shadow.slice_for(resource, action).context_keys
            keys = None if shadow is None else keys | shadow
        return keys

    def _result_fields(self, tool: ToolSpec) -> frozenset[str] | None:
        fields = self._enforced.slice(tool.name, tool.backend, READ).result_fields
        if self._shadow is not None and fields is not None:
            shadow = self._shadow.slice(tool.name, tool.backend, READ).result_fields
            fields = None if shadow is None else fields | shadow
        return fields

    @staticmethod
    def _context(
        principal: Principal, arguments: Any, door: str, keys: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """`{args, now, door[, on_behalf_of]}`, or the parts of it in `keys`. Authorization runs
        before validation: arguments that are not an object give `args: {}` here and are then
        refused by validation."""
        context: dict[str, Any] = {}
        if keys is None or "args" in keys:
            context["args"] = cedar_value(arguments) if isinstance(arguments, Mapping) else {}
        if keys is None or "now" in keys:
            context["now"] = _now()
        if keys is None or "door" in keys:
            context["door"] = door
        if principal.on_behalf_of is not None and (keys is None or "on_behalf_of" in keys):
            context["on_behalf_of"] = user_context(principal.on_behalf_of)
        return context

    def _name_granting_role(self, decision: Decision, principal: Principal, resource: Resource) -> Decision:
        """Say which role's grant permitted the call (`access.<role>`), not just "access"."""
        if resource.kind != "Tool" or not any(p.label == "access" for p in decision.policies):
            return decision
        roles = sorted(principal.roles & self._entities.granted.get(resource.id, frozenset()))
        granting = tuple(
            replace(p, label=f"access.{roles[0]}") if p.label == "access" and roles else p
            for p in decision.policies
        )
        return replace(decision, policies=granting)

    def _decide(
        self, principal: Principal, tool: ToolSpec | Resource, action: str, context: dict[str, Any]
    ) -> Decision:
        return self._decide_many(principal, tool, action, [context])[0]

    def _decide_many(
        self,
        principal: Principal,
        tool: ToolSpec | Resource,
        action: str,
        contexts: Sequence[dict[str, Any]],
    ) -> list[Decision]:
        if not contexts:
            return []
        resource = tool if isinstance(tool, Resource) else tool_resource(tool.name, tool.backend)
        keys = self._context_keys(resource, action)
        settled_key = None
        if keys is not None and not keys and self._shadow is None and len(contexts) == 1:
            # Keyed by the resource's kind too: a tool and an event type may share a name.
            settled_key = (principal_key(principal), resource.kind, resource.id, action)
            settled = self._settled.get(settled_key)
            if settled is not None:
                return [settled]
        decisions = self._decide_in_cedar(principal, resource, action, contexts, keys)
        if settled_key is not None and not decisions[0].errors:
            if len(self._settled) >= SETTLED_ENTRIES:
                self._settled.clear()
            self._settled[settled_key] = decisions[0]
        return decisions

    def _decide_in_cedar(
        self,
        principal: Principal,
        resource: Resource,
        action: str,
        contexts: Sequence[dict[str, Any]],
        keys: frozenset[str] | None,
    ) -> list[Decision]:
        entities = self._entities.for_principal(principal)
        fixed = {
            "principal": {"type": "Agent", "id": principal.id},
            "action": {"type": "Action", "id": action},
            "resource": {"type": resource.kind, "id": resource.id},
        }
        if keys is not None:  # only what the policies read: Cedar pays for every attribute
            contexts = [{k: v for k, v in c.items() if k in keys} for c in contexts]
        # Serialized here (orjson), so cedarpy passes the text through instead of re-encoding it.
        requests = [{**fixed, "context": orjson.dumps(c).decode()} for c in contexts]
        enforced = self._enforced.slice_for(resource, action).decide(requests, entities)
        decisions = [self._name_granting_role(d, principal, resource) for d in enforced]
        for decision in decisions:
            if decision.errors:
                log.warning(
                    "policy_errors",
                    **{resource.kind.lower(): resource.id},
                    principal=principal.id,
                    errors=list(decision.errors),
                )
        if self._shadow is None:
            return decisions
        shadows = self._shadow.slice_for(resource, action).decide(requests, entities)
        paired = []
        for decision, raw in zip(decisions, shadows, strict=True):
            shadow = self._name_granting_role(raw, principal, resource)
            if shadow.allowed != decision.allowed:
                log.info(
                    "policy_shadow_differs",
                    action=action,
                    **{resource.kind.lower(): resource.id},
                    principal=principal.id,
                    enforced="allow" if decision.allowed else "deny",
                    shadow="allow" if shadow.allowed else "deny",
                    shadow_policies=[p.label for p in shadow.policies],
                )
            paired.append(Decision(decision.allowed, decision.policies, decision.errors, shadow))
        return paired
