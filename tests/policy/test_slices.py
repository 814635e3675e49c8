"""Deciding with only the policies whose scope can match (and only the context they read)
gives the same decisions, reasons and errors as the whole set with the whole context."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from pasarela.catalog import ToolAnnotations, ToolSpec
from pasarela.identity import Principal
from pasarela.pipeline.authorize import Decision
from pasarela.policy import CedarAuthorizer, PolicySource
from pasarela.policy.policyset import PolicySet, Slice
from pasarela.policy.scopes import may_apply, tool_resource
from pasarela.policy.sources import ACCESS_POLICY, READ_POLICY

OBJECT = {"type": "object"}
TOOLS = [
    ToolSpec("get_customer", "", OBJECT, "crm", "a", annotations=ToolAnnotations(read_only=True)),
    ToolSpec("search", "", OBJECT, "crm", "b", annotations=ToolAnnotations(read_only=True)),
    ToolSpec("create_ticket", "", OBJECT, "ticketing", "c"),
    ToolSpec("quote", "", OBJECT, "loans", "d", annotations=ToolAnnotations(read_only=True)),
]
ACCESS = {"support": ["get_customer", "search", "create_ticket"], "sales": ["quote", "search"], "all": ["*"]}
# Every kind of scope: ==, in one, in a list, is, is … in, unconstrained; and every use of context.
POLICIES = """
@id("eq") forbid(principal, action == Action::"call", resource == Tool::"get_customer")
unless { context.args has region && principal has region && context.args.region == principal.region };
@id("in-backend") forbid(principal, action in [Action::"call", Action::"list"], resource in Backend::"loans")
when { context.args has amount && context.args.amount > 1000 };
@id("is-in") forbid(principal in Role::"support", action, resource is Tool in Backend::"ticketing")
when { context.now.hour == 25 };
@id("anything") forbid(principal, action, resource) when { resource has tags && resource.tags.contains("x") };
@id("door") forbid(principal, action == Action::"call", resource) when { context.door == "stdio" };
@id("whole-context") forbid(principal, action, resource == Tool::"search") when { context == {} };
@id("in-tool") permit(principal, action == Action::"unmask", resource in Tool::"search");
@id("read-region") forbid(principal, action == Action::"read", resource in Backend::"crm")
unless { context.result has region && principal has region && context.result.region == principal.region };
@id("type-error") forbid(principal, action == Action::"call", resource == Tool::"quote")
when { context.args has months && context.args.months > 360 };
@id("other-type") forbid(principal, action, resource is Backend);
"""
PRINCIPALS = [
    Principal("eu", frozenset({"support"}), {"region": "EU"}),
    Principal("sales", frozenset({"sales"}), {"region": "US"}),
    Principal("all", frozenset({"all"})),
]
ARGUMENTS = [{}, {"region": "EU"}, {"amount": 5000}, {"months": "many"}, {"region": 7}]
RESULTS = [{"region": "EU"}, {"region": "US"}, {}]


def whole(authorizer: CedarAuthorizer) -> Slice:
    """The unsliced set, as decided before slicing existed."""
    full = authorizer._enforced
    return Slice(full.parsed, full.info)


def decide_whole(
    authorizer: CedarAuthorizer, principal: Principal, tool: ToolSpec, action: str, context: dict[str, Any]
) -> Decision:
    request = {
        "principal": {"type": "Agent", "id": principal.id},
        "action": {"type": "Action", "id": action},
        "resource": {"type": "Tool", "id": tool.name},
        "context": orjson.dumps(context).decode(),
    }
    entities = authorizer._entities.for_principal(principal)
    return authorizer._name_granting_role(
        whole(authorizer).decide([request], entities)[0], principal, tool_resource(tool.name, tool.backend)
    )


@pytest.mark.parametrize("door", ["rest", "stdio"])
def test_sliced_decisions_equal_whole_set_decisions(door: str) -> None:
    authorizer = CedarAuthorizer(ACCESS, [PolicySource("policies", POLICIES, "policies")], PRINCIPALS, TOOLS)
    checked = 0
    for principal, tool, action, arguments in itertools.product(
        PRINCIPALS, TOOLS, ["call", "list", "unmask", "read"], ARGUMENTS
    ):
        context = authorizer._context(principal, arguments, door)
        for extra in RESULTS if action == "read" else [None]:
            full_context = context if extra is None else {**context, "result": extra}
            expected = decide_whole(authorizer, principal, tool, action, full_context)
            got = authorizer._decide(principal, tool, action, full_context)
            assert (got.allowed, got.policies) == (expected.allowed, expected.policies), (
                principal.id,
                tool.name,
                action,
                arguments,
                extra,
            )
            assert bool(got.errors) == bool(expected.errors)
            checked += 1
    assert checked > 300


def test_slices_keep_only_policies_whose_scope_can_match() -> None:
    sources = [
        PolicySource("access", ACCESS_POLICY, "access"),
        PolicySource("read", READ_POLICY, "read"),
        PolicySource("policies", POLICIES, "policies"),
    ]
    policies = PolicySet.build(sources)
    labels = {pid: info.label for pid, info in policies.info.items()}

    def kept(tool: str, backend: str, action: str) -> set[str]:
        documents = policies.documents
        return {labels[p] for p, d in documents.items() if may_apply(d, tool, backend, action)}

    assert kept("get_customer", "crm", "call") == {"access", "eq", "anything", "door"}
    assert kept("quote", "loans", "list") == {"access", "in-backend", "anything"}
    assert kept("create_ticket", "ticketing", "read") == {"read", "is-in", "anything"}
    assert kept("search", "crm", "unmask") == {"anything", "whole-context", "in-tool"}
    # What a slice sends of the context: only what its policies read; all of it when one reads it whole.
    assert policies.slice("get_customer", "crm", "call").context_keys == frozenset({"args", "door"})
    assert policies.slice("get_customer", "crm", "list").context_keys == frozenset()
    assert policies.slice("search", "crm", "call").context_keys is None
    # Of a result, only the fields policies read are sent; all of it when one reads it whole.
    assert policies.slice("get_customer", "crm", "read").result_fields == frozenset({"region"})
    whole_result = PolicySet.build(
        [PolicySource("p", "forbid(principal, action, resource) when { context.result == {} };", "p")]
    )
    assert whole_result.slice("get_customer", "crm", "read").result_fields is None
    # Results are checked only where a forbid names `read` (or reads context.result).
    assert policies.slice("get_customer", "crm", "read").guards_results
    assert not policies.slice("quote", "loans", "read").guards_results


def test_a_principal_added_at_run_time_is_parsed_once_and_kept_apart() -> None:
    authorizer = CedarAuthorizer(ACCESS, [], PRINCIPALS, TOOLS)
    stranger = Principal("jwt-subject", frozenset({"support"}), {"region": "EU"})
    first = authorizer._entities.for_principal(stranger)
    assert (
        authorizer._entities.for_principal(Principal("jwt-subject", frozenset({"support"}), {"region": "EU"}))
        is first
    )
    other = authorizer._entities.for_principal(
        Principal("jwt-subject", frozenset({"sales"}), {"region": "EU"})
    )
    assert other is not first
    assert authorizer.explain(stranger, TOOLS[0], {}, door="rest").allowed
    assert not authorizer.explain(
        Principal("jwt-subject", frozenset({"sales"})), TOOLS[0], {}, door="rest"
    ).allowed
