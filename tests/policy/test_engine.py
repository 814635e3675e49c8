"""The Cedar authorizer: a matrix of roles × tools × arguments against an independent oracle."""

from __future__ import annotations

import io
import itertools
from dataclasses import replace
from typing import Any

import orjson
import pytest

from pasarela.catalog import ToolAnnotations, ToolSpec
from pasarela.identity import Principal
from pasarela.pipeline import Call, Door
from pasarela.policy import CedarAuthorizer, PolicySource
from pasarela.secrets import Redactor
from pasarela.telemetry import configure_logging

OBJECT = {"type": "object"}
TOOLS = [
    ToolSpec("get_customer", "", OBJECT, "crm", "getCustomer", annotations=ToolAnnotations(read_only=True)),
    ToolSpec("create_ticket", "", OBJECT, "ticketing", "createTicket"),
    ToolSpec("quote_loan", "", OBJECT, "loans", "quote", tags=("loans",)),
    ToolSpec("close_account", "", OBJECT, "core", "close", annotations=ToolAnnotations(destructive=True)),
]
ACCESS = {
    "support": ["get_customer", "create_ticket"],
    "sales": ["get_customer", "quote_loan"],
    "compliance": ["*"],
}
POLICIES = """
@id("region")
@reason("customer data may only be read for your own region")
forbid(principal, action == Action::"call", resource == Tool::"get_customer")
unless { context.args has region && principal has region && context.args.region == principal.region };

@id("no-critical-tickets")
forbid(principal in Role::"support", action == Action::"call", resource == Tool::"create_ticket")
when { context.args has priority && context.args.priority == "critical" };

@id("destructive-needs-compliance")
forbid(principal, action, resource) when { resource.destructive } unless { principal in Role::"compliance" };

@id("obo-same-region")
forbid(principal, action == Action::"call", resource == Tool::"quote_loan")
when { context has on_behalf_of && context.on_behalf_of has region && principal has region
       && context.on_behalf_of.region != principal.region };

@id("loan-cap")
@reason("quotes above 500,000 need an advisor")
forbid(principal, action == Action::"call", resource in Backend::"loans")
when { context.args has amount && context.args.amount.greaterThan(decimal("500000.0")) };
"""
PRINCIPALS = [
    Principal("support-eu", frozenset({"support"}), {"region": "EU"}),
    Principal("support-us", frozenset({"support"}), {"region": "US"}),
    Principal("sales-eu", frozenset({"sales"}), {"region": "EU"}),
    Principal("compliance", frozenset({"compliance"})),
    Principal("two-roles", frozenset({"support", "sales"}), {"region": "EU"}),
    Principal("nobody"),
]
USERS: list[Principal | None] = [
    None,
    Principal("alice", frozenset({"teller"}), {"region": "EU"}, kind="user"),
    Principal("bob", frozenset({"customer"}), {"region": "US"}, kind="user"),
]
ARGUMENTS: list[dict[str, Any]] = [
    {},
    {"region": "EU"},
    {"region": "US"},
    {"priority": "critical"},
    {"priority": "low"},
    {"amount": 1000.5},
    {"amount": 750000.0},
]


def oracle(principal: Principal, tool: ToolSpec, args: dict[str, Any]) -> bool:
    """The same rules, written independently in Python."""
    user = principal.on_behalf_of
    permitted = any(
        tool.name in ACCESS.get(role, []) or "*" in ACCESS.get(role, []) for role in principal.roles
    )
    forbidden = (
        (
            tool.name == "get_customer"
            and (args.get("region") is None or args.get("region") != principal.attributes.get("region"))
        )
        or (
            "support" in principal.roles
            and tool.name == "create_ticket"
            and args.get("priority") == "critical"
        )
        or (tool.annotations.destructive and "compliance" not in principal.roles)
        or (tool.backend == "loans" and isinstance(args.get("amount"), float) and args["amount"] > 500000)
        or (
            tool.name == "quote_loan"
            and user is not None
            and "region" in user.attributes
            and "region" in principal.attributes
            and user.attributes["region"] != principal.attributes["region"]
        )
    )
    return permitted and not forbidden


def authorizer(policies: str = POLICIES, shadow: str | None = None) -> CedarAuthorizer:
    sources = [PolicySource("policies", policies, "policies")]
    if shadow is not None:
        sources.append(PolicySource("shadow.cedar", shadow, "policies[1].file", shadow=True))
    return CedarAuthorizer(ACCESS, sources, PRINCIPALS, TOOLS)


ENGINE = authorizer()


def _id(value: Any) -> str:
    if isinstance(value, Principal):
        return value.id
    if isinstance(value, ToolSpec):
        return value.name
    return "alone" if value is None else orjson.dumps(value).decode()


@pytest.mark.parametrize(
    ("principal", "user", "tool", "args"),
    list(itertools.product(PRINCIPALS, USERS, TOOLS, ARGUMENTS)),
    ids=_id,
)
def test_matrix(principal: Principal, user: Principal | None, tool: ToolSpec, args: dict[str, Any]) -> None:
    principal = replace(principal, on_behalf_of=user)
    decision = ENGINE.explain(principal, tool, args, door=Door.REST)
    assert decision.allowed == oracle(principal, tool, args)
    assert decision.errors == ()


def test_forbid_beats_permit_and_names_itself() -> None:
    decision = ENGINE.explain(PRINCIPALS[0], TOOLS[0], {"region": "US"}, door=Door.REST)
    assert not decision.allowed
    assert [p.label for p in decision.policies] == ["region"]
    assert decision.reasons == ["customer data may only be read for your own region"]
    allowed = ENGINE.explain(PRINCIPALS[0], TOOLS[0], {"region": "EU"}, door=Door.REST)
    assert [p.label for p in allowed.policies] == ["access.support"]


def test_deny_by_default_names_no_policy() -> None:
    decision = ENGINE.explain(PRINCIPALS[-1], TOOLS[1], {"priority": "low"}, door=Door.REST)
    assert not decision.allowed
    assert decision.policies == (), "no forbid applies: denied only because nothing permits"


def test_a_forbid_that_cannot_be_evaluated_denies() -> None:
    # An integer amount makes `.greaterThan(decimal(...))` a type error: Cedar would skip the
    # forbid and allow the call; the gateway denies it instead.
    decision = ENGINE.explain(PRINCIPALS[2], TOOLS[2], {"amount": 750000}, door=Door.REST)
    assert not decision.allowed
    assert [p.label for p in decision.policies] == ["loan-cap"]
    assert decision.errors


def test_listing_uses_the_list_action() -> None:
    visible = {p.id: [t.name for t in ENGINE.visible(p, TOOLS, "mcp")] for p in PRINCIPALS}
    assert visible == {
        "support-eu": ["get_customer", "create_ticket"],
        "support-us": ["get_customer", "create_ticket"],
        "sales-eu": ["get_customer", "quote_loan"],
        "compliance": ["get_customer", "create_ticket", "quote_loan", "close_account"],
        "two-roles": ["get_customer", "create_ticket", "quote_loan"],
        "nobody": [],
    }


def test_the_door_and_time_are_in_the_context() -> None:
    engine = authorizer(
        POLICIES + '\n@id("no-cli") forbid(principal, action, resource) when { context.door == "cli" };'
        '\n@id("never-at-25") forbid(principal, action, resource) when { context.now.hour == 25 };'
    )
    compliance = PRINCIPALS[3]
    assert engine.explain(compliance, TOOLS[1], {}, door=Door.REST).allowed
    assert not engine.explain(compliance, TOOLS[1], {}, door=Door.CLI).allowed


def test_principals_not_known_at_load_are_decided_too() -> None:
    stranger = Principal("jwt-subject-42", frozenset({"sales", "brand-new-role"}), {"region": "EU"})
    assert ENGINE.explain(stranger, TOOLS[0], {"region": "EU"}, door=Door.REST).allowed
    assert not ENGINE.explain(stranger, TOOLS[1], {}, door=Door.REST).allowed


def test_a_principal_named_like_a_configured_one_is_decided_by_its_own_roles() -> None:
    # A JWT subject that happens to share a configured API key principal's id (not a 500).
    namesake = Principal("support-eu", frozenset({"sales"}), {"region": "EU"})
    assert ENGINE.explain(namesake, TOOLS[2], {}, door=Door.REST).allowed, "sales may quote"
    assert not ENGINE.explain(namesake, TOOLS[1], {}, door=Door.REST).allowed, "but not open tickets"
    assert ENGINE.explain(PRINCIPALS[0], TOOLS[1], {}, door=Door.REST).allowed, (
        "the configured one is unchanged"
    )


def test_log_only_never_denies_but_logs_what_it_would_have_denied() -> None:
    stream = io.StringIO()
    configure_logging(Redactor(), stream=stream)
    shadow = '@id("tickets-freeze") forbid(principal, action == Action::"call", resource == Tool::"create_ticket");'
    engine = authorizer(shadow=shadow)
    support = PRINCIPALS[0]
    decision = engine.decide(Call(support, TOOLS[1], {"priority": "low"}, Door.REST, "req-1"))
    assert decision.allowed, "a log_only policy never denies"
    assert decision.shadow is not None
    assert not decision.shadow.allowed
    assert [p.label for p in decision.shadow.policies] == ["tickets-freeze"]
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    logged = next(line for line in lines if line["event"] == "policy_shadow_differs")
    assert logged["enforced"] == "allow"
    assert logged["shadow"] == "deny"
    assert logged["shadow_policies"] == ["tickets-freeze"]
    # Where enforcement already denies, the shadow set agrees and nothing extra is logged.
    before = len(stream.getvalue())
    assert not engine.decide(Call(PRINCIPALS[-1], TOOLS[1], {}, Door.REST, "req-2")).allowed
    assert "policy_shadow_differs" not in stream.getvalue()[before:]


def test_argument_values_reach_cedar_faithfully() -> None:
    policies = POLICIES + (
        '\n@id("tags") forbid(principal, action, resource == Tool::"create_ticket")'
        ' when { context.args has tags && context.args.tags.contains("blocked") };'
        '\n@id("nested") forbid(principal, action, resource == Tool::"create_ticket")'
        " when { context.args has meta && context.args.meta has level && context.args.meta.level > 3 };"
    )
    engine = authorizer(policies)
    compliance = PRINCIPALS[3]
    cases: list[tuple[dict[str, Any], bool]] = [
        ({"tags": ["a", "blocked"]}, False),
        ({"tags": ["a"]}, True),
        ({"meta": {"level": 4}}, False),
        ({"meta": {"level": 3, "note": None}}, True),
        ({"huge": 2**70, "ratio": 1e300}, True),
    ]
    for args, allowed in cases:
        assert engine.explain(compliance, TOOLS[1], args, door=Door.REST).allowed is allowed, args


def test_decisions_that_read_no_context_are_settled_per_principal_not_per_id() -> None:
    engine = authorizer()
    close = TOOLS[3]  # only `destructive-needs-compliance` applies: it reads no context
    compliance = PRINCIPALS[3]
    impostor = Principal("compliance", frozenset({"support"}))  # same id, other roles (a JWT subject)
    for _ in range(2):  # the second round is answered from what was settled
        assert engine.explain(compliance, close, {}, door=Door.REST).allowed
        denied = engine.explain(impostor, close, {}, door=Door.REST)
        assert not denied.allowed
        assert [p.label for p in denied.policies] == ["destructive-needs-compliance"]
    # Context-reading decisions are still made per call: the same principal, other arguments.
    ticket = TOOLS[1]
    assert engine.explain(PRINCIPALS[0], ticket, {"priority": "low"}, door=Door.REST).allowed
    assert not engine.explain(PRINCIPALS[0], ticket, {"priority": "critical"}, door=Door.REST).allowed
