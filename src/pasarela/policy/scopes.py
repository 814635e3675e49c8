"""Which policies can apply to a request for one tool and one action, read from their scopes.

Cedar evaluates every policy of a set for every request (about a microsecond each); most
policies name one action and one tool or backend, so a decision only needs the few whose
scope can match. A policy whose scope cannot match is never satisfied and never errs (Cedar
checks the scope before the conditions), so leaving it out changes no decision. Anything
this reading does not recognise is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Uid = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Resource:
    """What a request is about: a `Tool::"…"` in its `Backend::"…"`, or an `EventType::"…"`."""

    kind: str
    id: str
    parents: tuple[Uid, ...] = ()

    @property
    def uid(self) -> Uid:
        return (self.kind, self.id)

    @property
    def ancestors(self) -> frozenset[Uid]:
        """Itself and its parents (no deeper hierarchy exists)."""
        return frozenset({self.uid, *self.parents})


def tool_resource(tool: str, backend: str) -> Resource:
    return Resource("Tool", tool, (("Backend", backend),))


def event_type_resource(event_type: str) -> Resource:
    return Resource("EventType", event_type)


def _uid(node: Any) -> Uid | None:
    if isinstance(node, Mapping) and isinstance(node.get("type"), str) and isinstance(node.get("id"), str):
        return (node["type"], node["id"])
    return None


def _in(node: Any, ancestors: frozenset[Uid]) -> bool:
    """Can `resource in <node>` hold for a resource whose self-and-ancestors are `ancestors`?"""
    if not isinstance(node, Mapping):
        return True
    if "entity" in node:
        target = _uid(node["entity"])
        return target is None or target in ancestors
    if "entities" in node and isinstance(node["entities"], list):
        targets = [_uid(e) for e in node["entities"]]
        return any(t is None or t in ancestors for t in targets)
    return True


def _may_match(scope: Any, this: Uid, ancestors: frozenset[Uid], kind: str) -> bool:
    """Whether a policy's scope can match `this` (whose ancestors, itself included, are given);
    anything this does not understand may match, so a policy is never wrongly left out."""
    if not isinstance(scope, Mapping):
        return True
    op = scope.get("op")
    if op == "==":
        target = _uid(scope.get("entity"))
        return target is None or target == this
    if op == "in":
        return _in(scope, ancestors)
    if op == "is":
        if scope.get("entity_type") != kind:
            return False
        return "in" not in scope or _in(scope["in"], ancestors)
    return True  # "All", and what a later Cedar may add


def action_may_match(scope: Any, action: str) -> bool:
    this = ("Action", action)
    return _may_match(scope, this, frozenset({this}), "Action")


def resource_may_match(scope: Any, resource: Resource) -> bool:
    return _may_match(scope, resource.uid, resource.ancestors, resource.kind)


def may_apply_to(policy: Mapping[str, Any], resource: Resource, action: str) -> bool:
    return action_may_match(policy.get("action"), action) and resource_may_match(
        policy.get("resource"), resource
    )


def may_apply(policy: Mapping[str, Any], tool: str, backend: str, action: str) -> bool:
    # A tool's only parent is its backend.
    return may_apply_to(policy, tool_resource(tool, backend), action)


def names_action(policy: Mapping[str, Any], action: str) -> bool:
    """Does the policy's action scope name `action` itself (not just leave actions open)?"""
    scope = policy.get("action")
    if not isinstance(scope, Mapping) or scope.get("op") == "All":
        return False
    return action_may_match(scope, action)
