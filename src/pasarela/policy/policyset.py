"""A parsed Cedar policy set, cut per (tool, action) into the policies that can apply."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cedarpy

from pasarela.pipeline.authorize import Decision, PolicyRef
from pasarela.policy.scopes import Resource, may_apply_to, names_action, tool_resource
from pasarela.policy.sources import PolicySource, describe

MAX_SLICES = 20_000
_FAILED_POLICY = re.compile(r"policy `(policy\d+)`")


def _failed_policies(errors: Sequence[str]) -> list[str]:
    return sorted({m.group(1) for e in errors if (m := _FAILED_POLICY.search(e))}, key=_index)


def _index(policy_id: str) -> int:
    digits = policy_id.removeprefix("policy")
    return int(digits) if digits.isdigit() else -1


@dataclass(frozen=True, slots=True)
class Slice:
    """The policies of a set that can apply to one tool and one action."""

    parsed: cedarpy.PolicySet
    info: Mapping[str, PolicyRef]
    # For Action::"read": some forbid can withhold a result (it names `read`, or reads
    # `context.result`); if none can, results are not checked at all.
    guards_results: bool = False
    # The parts of the context these policies read (`args`, `now` …); None: all of it. Cedar
    # spends microseconds per context attribute building a request, so only these are sent.
    context_keys: frozenset[str] | None = None
    # Likewise the fields of `context.result` they read: of an object result only these are
    # converted and sent (a field no policy reads cannot change a decision).
    result_fields: frozenset[str] | None = None

    def decide(self, requests: list[dict[str, Any]], entities: cedarpy.Entities) -> list[Decision]:
        return [self._decision(r) for r in cedarpy.is_authorized_batch(requests, self.parsed, entities)]

    def _decision(self, result: cedarpy.AuthzResult) -> Decision:
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
            # In configuration order (Cedar's own order is not stable), so messages are too.
            policies=tuple(self.info[r] for r in sorted(diagnostics.reasons, key=_index) if r in self.info),
            errors=errors,
        )


@dataclass(slots=True)
class PolicySet:
    parsed: cedarpy.PolicySet
    info: dict[str, PolicyRef]
    documents: dict[str, dict[str, Any]]  # Cedar's JSON of each policy, by its id (policy0 …)
    _slices: dict[tuple[Resource, str], Slice] = field(default_factory=dict)
    # Tools that the same policies can apply to share one slice: parsing a policy set per tool
    # cost ~0.35 ms each (3.5 s for a first listing of 10,000 tools).
    _by_policies: dict[tuple[frozenset[str], str], Slice] = field(default_factory=dict)

    @classmethod
    def build(cls, sources: Sequence[PolicySource]) -> PolicySet:
        texts: list[str] = []
        infos: list[PolicyRef] = []
        for source in sources:
            described = describe(source)
            if isinstance(described, str):  # checked at config load; unreachable after that
                raise ValueError(f"{source.label}: not valid Cedar: {described}")
            texts.append(source.text)
            infos.extend(described)
        text = "\n".join(texts)
        parsed = cedarpy.PolicySet.from_str(text)
        documents = json.loads(cedarpy.policies_to_json_str(text)).get("staticPolicies", {})
        return cls(parsed, {f"policy{i}": info for i, info in enumerate(infos)}, documents)

    def slice(self, tool: str, backend: str, action: str) -> Slice:
        return self.slice_for(tool_resource(tool, backend), action)

    def slice_for(self, resource: Resource, action: str) -> Slice:
        """The policies that can apply to `action` on `resource` (a tool, an event type)."""
        key = (resource, action)
        found = self._slices.get(key)
        if found is None:
            if len(self._slices) >= MAX_SLICES:  # event types can come from outside: stay bounded
                self._slices.clear()
            found = self._slices[key] = self._cut(resource, action)
        return found

    def _cut(self, resource: Resource, action: str) -> Slice:
        kept = {pid: doc for pid, doc in self.documents.items() if may_apply_to(doc, resource, action)}
        shared_key = (frozenset(kept), action)
        found = self._by_policies.get(shared_key)
        if found is None:
            if len(self._by_policies) >= MAX_SLICES:
                self._by_policies.clear()
            found = self._by_policies[shared_key] = self._slice_of(kept, action)
        return found

    def _slice_of(self, kept: dict[str, dict[str, Any]], action: str) -> Slice:
        guards = any(
            self.info[pid].effect == "forbid" and (names_action(doc, action) or _reads_result(doc))
            for pid, doc in kept.items()
            if pid in self.info
        )
        keys = _attributes_read(kept.values(), CONTEXT)
        fields = _attributes_read(kept.values(), RESULT)
        if len(kept) == len(self.documents):
            return Slice(self.parsed, self.info, guards, keys, fields)
        # Same ids as in the whole set, so reasons and errors name the same policies.
        document = {"staticPolicies": kept, "templates": {}, "templateLinks": []}
        return Slice(cedarpy.PolicySet.from_json_str(json.dumps(document)), self.info, guards, keys, fields)


CONTEXT: dict[str, Any] = {"Var": "context"}
RESULT: dict[str, Any] = {".": {"left": CONTEXT, "attr": "result"}}


def _attributes_read(
    documents: Iterable[Mapping[str, Any]], target: Mapping[str, Any]
) -> frozenset[str] | None:
    """The attributes of `target` (an expression: `context`, `context.result`) the policies
    read as `target.x` or `target has x`; None when one uses `target` some other way (whole),
    so all of it must be sent."""
    keys: set[str] = set()
    stack: list[Any] = [d.get("conditions", []) for d in documents]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, Mapping):
            continue
        if node == target:
            return None  # the whole value, not one of its attributes
        for op in (".", "has"):
            inner = node.get(op)
            if isinstance(inner, Mapping) and inner.get("left") == target:
                if not isinstance(inner.get("attr"), str):
                    return None
                keys.add(inner["attr"])
                stack.extend(v for k, v in inner.items() if k != "left")
                break
        else:
            stack.extend(node.values())
    return frozenset(keys)


def _reads_result(document: Mapping[str, Any]) -> bool:
    """Does a policy's condition mention `context.result`? (Cedar JSON: an attribute `result`.)"""
    stack: list[Any] = [document.get("conditions", [])]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if node.get("attr") == "result":
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
