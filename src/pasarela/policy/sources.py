"""Policy text from configuration: `access:` compiled to Cedar, `policies:` inline or in files.

Every policy gets a label people can find: its `@id("…")` annotation when it has one,
otherwise `<source>#<n>` (the n-th policy of that source, from 1). `@reason("…")` on a
`forbid` is the sentence a denied agent is shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cedarpy

from pasarela.errors import ConfigProblem
from pasarela.pipeline.authorize import PolicyRef

ALL_TOOLS = "*"
ACTIONS = '[Action::"call", Action::"list"]'


@dataclass(frozen=True, slots=True)
class PolicySource:
    """One piece of Cedar text and where it came from."""

    label: str  # a config key path or a file path
    text: str
    key_path: str
    shadow: bool = False


def _literal(text: str) -> str:
    """A Cedar string literal (Cedar's escapes are a subset of JSON's)."""
    return json.dumps(text)


ACCESS_POLICY = f"""@id("access")
permit(principal, action in {ACTIONS}, resource)
when {{ principal has roles && resource has granted_to && resource.granted_to.containsAny(principal.roles) }};
"""


# Reading a result (`Action::"read"`) is part of a permitted call: result rules are `forbid`s.
READ_POLICY = """@id("read")
permit(principal, action == Action::"read", resource);
"""


# Receiving an event is part of a permitted subscription: per-event rules are `forbid`s.
RECEIVE_POLICY = """@id("receive")
permit(principal, action == Action::"receive", resource);
"""


# An upstream asking the agent mid-call (sampling, elicitation) is part of a permitted call on
# a backend whose settings allow it: policies that refuse it are `forbid`s.
RELAY_POLICY = """@id("relay")
permit(principal, action in [Action::"sample", Action::"elicit"], resource);
"""


def granted_roles(access: Mapping[str, Sequence[str]], tool: str) -> list[str]:
    """The roles that `access:` lets use `tool` ('*' grants every tool)."""
    return sorted(role for role, tools in access.items() if tool in tools or ALL_TOOLS in tools)


def describe(source: PolicySource) -> list[PolicyRef] | str:
    """The policies of one source in order, or the Cedar parse error."""
    if not source.text.strip():
        return []
    try:
        document = json.loads(cedarpy.policies_to_json_str(source.text))
    except ValueError as exc:
        return str(exc)
    infos: list[PolicyRef] = []
    static = document.get("staticPolicies", {})
    # Cedar names parsed policies policy0, policy1 … in text order; sort numerically, not as strings.
    ordered = [static[key] for key in sorted(static, key=lambda k: int(k.removeprefix("policy") or 0))]
    for index, policy in enumerate(ordered, start=1):
        annotations = policy.get("annotations") or {}
        infos.append(
            PolicyRef(
                label=annotations.get("id") or f"{source.label}#{index}",
                effect=policy.get("effect", "permit"),
                source=source.label,
                reason=annotations.get("reason"),
            )
        )
    if document.get("templates"):
        return "policy templates are not supported; write static policies"
    return infos


def check_sources(sources: Iterable[PolicySource], config_source: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for source in sources:
        described = describe(source)
        if isinstance(described, str):
            problems.append(ConfigProblem(config_source, source.key_path, f"not valid Cedar: {described}"))
    return problems


def read_policy_file(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def referenced_tools(source: PolicySource, kind: str = "Tool") -> set[str]:
    """Every `Tool::"…"` (or other `kind`) a source names, so a misspelt name is caught at load,
    not never matched."""
    try:
        document = json.loads(cedarpy.policies_to_json_str(source.text))
    except ValueError:
        return set()
    found: set[str] = set()
    stack: list[object] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == kind and isinstance(node.get("id"), str):
                found.add(node["id"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
