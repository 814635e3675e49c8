"""Gateway.call and its stages, with a connector that records what reaches it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from pasarela.catalog import Catalog, ToolAnnotations, ToolSpec
from pasarela.connectors.base import DEFAULT_INVOCATION, Invocation, UpstreamResult
from pasarela.errors import AccessDenied, InvalidArguments, PasarelaError, ToolNotFound
from pasarela.identity import Principal
from pasarela.pipeline import AuthorizeStage, Call, Door, Gateway, Next, Outcome, ValidateStage
from pasarela.pipeline.call import StageObserver
from pasarela.plans import ToolPlan
from pasarela.policy import CedarAuthorizer

pytestmark = pytest.mark.anyio

SCHEMA = {
    "type": "object",
    "properties": {"customer_id": {"type": "string"}, "priority": {"enum": ["low", "high"]}},
    "required": ["customer_id"],
    "additionalProperties": False,
}
TOOLS = [
    ToolSpec(
        "get_customer",
        "d",
        SCHEMA,
        backend="crm",
        origin="getCustomer",
        annotations=ToolAnnotations(read_only=True),
    ),
    ToolSpec("close_account", "d", {"type": "object"}, backend="crm", origin="closeAccount"),
    ToolSpec("crash", "d", {"type": "object"}, backend="crm", origin="crash"),
]
SUPPORT = Principal("support-bot", frozenset({"support"}))
ADMIN = Principal("admin", frozenset({"admin"}))
NOBODY = Principal("nobody")


class RecordingConnector:
    backend = "crm"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Mapping[str, Any], float | None]] = []
        self.connect_timeouts: list[float | None] = []

    async def load(self) -> list[ToolSpec]:
        return TOOLS

    async def invoke(
        self, tool: ToolSpec, arguments: Mapping[str, Any], invocation: Invocation = DEFAULT_INVOCATION
    ) -> UpstreamResult:
        self.calls.append((tool.origin, arguments, invocation.timeout))
        self.connect_timeouts.append(invocation.connect_timeout)
        if tool.origin == "crash":
            raise KeyError("a bug in a connector")
        return UpstreamResult({"ok": tool.origin}, 200)

    async def aclose(self) -> None:
        return None


class OrderStage:
    def __init__(self, label: str, trail: list[str]) -> None:
        self.label, self.trail = label, trail
        self.name = label

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        self.trail.append(f"{self.label}>")
        outcome = await call_next(call)
        self.trail.append(f"<{self.label}")
        return outcome.with_meta(**{self.label: True})


def gateway(connector: RecordingConnector, *extra: Any, observer: StageObserver | None = None) -> Gateway:
    catalog = Catalog(TOOLS)
    access = {"support": ["get_customer"], "admin": ["*"]}
    authorizer = CedarAuthorizer(access, [], [SUPPORT, ADMIN, NOBODY], TOOLS)
    return Gateway(
        catalog,
        {"crm": connector},
        stages=[*extra, AuthorizeStage(authorizer), ValidateStage(catalog)],
        authorizer=authorizer,
        plans={"get_customer": ToolPlan("get_customer", timeout=1.5, connect_timeout=0.25)},
        observer=observer,
    )


async def test_a_call_runs_the_stages_in_order_then_the_connector() -> None:
    trail: list[str] = []
    connector = RecordingConnector()
    gw = gateway(connector, OrderStage("outer", trail), OrderStage("inner", trail))
    outcome = await gw.call(SUPPORT, "get_customer", {"customer_id": "12345"}, door=Door.CLI)
    assert outcome.result == {"ok": "getCustomer"}
    meta = outcome.public_meta()
    assert meta.pop("as_of").endswith("Z"), "every answer says when its data was current"
    assert meta == {
        "backend": "crm",
        "source": "crm",
        "upstream_status": 200,
        "inner": True,
        "outer": True,
    }
    assert trail == ["outer>", "inner>", "<inner", "<outer"]
    assert connector.calls == [("getCustomer", {"customer_id": "12345"}, 1.5)]
    assert connector.connect_timeouts == [0.25]


@pytest.mark.parametrize(
    ("arguments", "paths"),
    [
        ({}, ["/customer_id"]),
        ({"customer_id": 12345}, ["/customer_id"]),
        ({"customer_id": "1", "priority": "urgent"}, ["/priority"]),
        ({"customer_id": "1", "extra": 1}, ["/"]),
        ([1, 2], [""]),
    ],
)
async def test_invalid_arguments_never_reach_the_connector(arguments: Any, paths: list[str]) -> None:
    connector = RecordingConnector()
    with pytest.raises(InvalidArguments) as caught:
        await gateway(connector).call(SUPPORT, "get_customer", arguments, door=Door.CLI)
    assert [p.path for p in caught.value.problems] == paths
    assert caught.value.status == 422
    assert connector.calls == []


async def test_deny_by_default_and_before_validation() -> None:
    connector = RecordingConnector()
    gw = gateway(connector)
    with pytest.raises(AccessDenied):
        await gw.call(SUPPORT, "close_account", {}, door=Door.CLI)
    with pytest.raises(AccessDenied):  # denied even with invalid arguments: nothing about the schema leaks
        await gw.call(NOBODY, "get_customer", {"nope": 1}, door=Door.CLI)
    assert connector.calls == []
    assert (await gw.call(ADMIN, "close_account", {}, door=Door.CLI)).result == {"ok": "closeAccount"}


async def test_listing_shows_only_permitted_tools() -> None:
    gw = gateway(RecordingConnector())
    assert [t.name for t in gw.tools_for(SUPPORT, "test")] == ["get_customer"]
    assert [t.name for t in gw.tools_for(ADMIN, "test")] == ["get_customer", "close_account", "crash"]
    assert gw.tools_for(NOBODY, "test") == []


async def test_unknown_tool() -> None:
    with pytest.raises(ToolNotFound) as caught:
        await gateway(RecordingConnector()).call(ADMIN, "nope", {}, door=Door.CLI)
    assert caught.value.status == 404


async def test_a_connector_bug_becomes_a_clean_internal_error() -> None:
    with pytest.raises(PasarelaError) as caught:
        await gateway(RecordingConnector()).call(ADMIN, "crash", {}, door=Door.CLI, request_id="req-1")
    assert type(caught.value) is PasarelaError
    assert caught.value.status == 500
    assert "req-1" in caught.value.detail
    assert "a bug in a connector" not in caught.value.detail


class BrokenStage:
    """A stage with a bug after the backend answered (as a transform on an odd shape was)."""

    name = "broken"

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        outcome = await call_next(call)
        return Outcome(outcome.result["missing"], outcome.meta)  # KeyError


class SeenOutcomes:
    name = "seen"

    def __init__(self) -> None:
        self.errors: list[PasarelaError] = []

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        try:
            return await call_next(call)
        except PasarelaError as exc:  # what the audit and telemetry stages catch
            self.errors.append(exc)
            raise


async def test_a_bug_in_any_stage_reaches_the_outer_stages_as_a_pasarela_error() -> None:
    seen = SeenOutcomes()
    gw = gateway(RecordingConnector(), seen, BrokenStage())
    with pytest.raises(PasarelaError) as caught:
        await gw.call(ADMIN, "close_account", {}, door=Door.CLI, request_id="req-2")
    assert type(caught.value) is PasarelaError and caught.value.status == 500
    assert "req-2" in caught.value.detail
    assert seen.errors == [caught.value], "the outer stages saw it, so it is recorded"


class Timings:
    """A stage observer, as per-stage timings and trace spans will be."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @asynccontextmanager
    async def around(self, stage: str, call: Call) -> AsyncIterator[None]:
        self.seen.append(f"{stage}>")
        try:
            yield
        finally:
            self.seen.append(f"<{stage}")


async def test_one_observer_sees_every_stage_of_every_call_by_name() -> None:
    timings = Timings()
    gw = gateway(RecordingConnector(), OrderStage("outer", []), observer=timings)
    assert gw.stage_names == ("outer", "authorize", "validate")
    await gw.call(SUPPORT, "get_customer", {"customer_id": "1"}, door=Door.REST)
    assert timings.seen == ["outer>", "authorize>", "validate>", "<validate", "<authorize", "<outer"]
