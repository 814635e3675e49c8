"""Child calls: the whole pipeline again, as the same principal and door, deeper, within the deadline."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from pasarela.config.backends import PythonBackend
from pasarela.connectors.base import Invocation
from pasarela.connectors.python import PythonConnector
from pasarela.errors import PasarelaError, UpstreamTimeout
from pasarela.pipeline import Call, Door, Next, Outcome, Via
from pasarela.pipeline.gateway import MAX_DEPTH
from pasarela.secrets import Redactor
from tests.pipeline.test_gateway import ADMIN, RecordingConnector, gateway

pytestmark = pytest.mark.anyio


class SeenCalls:
    name = "seen"

    def __init__(self) -> None:
        self.calls: list[Call] = []

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        self.calls.append(call)
        return await call_next(call)


async def test_a_child_call_keeps_principal_and_door_and_names_its_parent() -> None:
    seen = SeenCalls()
    gw = gateway(RecordingConnector(), seen)
    await gw.call(ADMIN, "close_account", {}, door=Door.STDIO, request_id="root")
    parent = replace(seen.calls[0], deadline=time.monotonic() + 30)
    await gw.call_child(parent, "get_customer", {"customer_id": "1"}, via=Via.FALLBACK)
    child = seen.calls[1]
    assert (child.principal, child.door, child.via) == (ADMIN, Door.STDIO, Via.FALLBACK)
    assert (child.parent_id, child.depth, child.deadline) == ("root", 1, parent.deadline)
    assert child.request_id.startswith("root-fallback-")


async def test_children_nest_only_so_deep() -> None:
    seen = SeenCalls()
    gw = gateway(RecordingConnector(), seen)
    await gw.call(ADMIN, "close_account", {}, door=Door.REST, request_id="root")
    deep = replace(seen.calls[0], depth=MAX_DEPTH)
    with pytest.raises(PasarelaError, match=f"at most {MAX_DEPTH}"):
        await gw.call_child(deep, "close_account", {}, via=Via.COMPOSITE)


async def test_the_deadline_bounds_the_backend_call_below_its_own_timeout() -> None:
    connector = PythonConnector(
        "py",
        PythonBackend(python="tests.connectors.slow_tools", timeout=30),
        base_dir=Path("."),
        redactor=Redactor(),
        source="t.yaml",
    )
    tools = {t.name: t for t in await connector.load()}
    with pytest.raises(UpstreamTimeout):
        await connector.invoke(tools["snooze"], {"seconds": 30}, Invocation(deadline=time.monotonic() + 0.1))
