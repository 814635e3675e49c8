"""Telling followers which resources changed, each at its own pace: a follower that stalls delays
no one else, a URI told twice before it was taken is told once, and a follower that stops taking
notifications is given up on."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from pasarela.identity.principal import Principal
from pasarela.server import mcp_resource_delivery
from pasarela.server.mcp_resource_delivery import Follower

pytestmark = pytest.mark.anyio
AGENT = Principal("agent")


async def test_a_stalled_follower_delays_no_one_else() -> None:
    stuck, told = anyio.Event(), anyio.Event()
    heard: list[str] = []

    async def never_takes(uri: str) -> None:
        stuck.set()
        await anyio.sleep_forever()

    async def takes(uri: str) -> None:
        heard.append(uri)
        told.set()

    slow, quick = Follower(AGENT, never_takes), Follower(AGENT, takes)
    async with anyio.create_task_group() as group:
        group.start_soon(slow.feed)
        group.start_soon(quick.feed)
        slow.tell("a://1")
        with anyio.fail_after(2):
            await stuck.wait()
        quick.tell("a://1")
        with anyio.fail_after(2):  # well within the stalled one's 5 s
            await told.wait()
        group.cancel_scope.cancel()
    assert heard == ["a://1"]


async def test_a_uri_told_twice_before_it_was_taken_is_told_once() -> None:
    heard: list[str] = []
    gate, third = anyio.Event(), anyio.Event()

    async def takes(uri: str) -> None:
        await gate.wait()
        heard.append(uri)
        if len(heard) == 3:
            third.set()

    follower = Follower(AGENT, takes)
    async with anyio.create_task_group() as group:
        group.start_soon(follower.feed)
        follower.tell("a://1")
        await anyio.sleep(0.05)  # being sent now, held at the gate
        for uri in ("a://2", "a://2", "a://3", "a://2"):
            follower.tell(uri)
        gate.set()
        with anyio.fail_after(2):
            await third.wait()
        await anyio.sleep(0.1)  # and nothing more comes
        group.cancel_scope.cancel()
    assert heard == ["a://1", "a://2", "a://3"]


async def test_a_follower_that_stops_taking_notifications_is_given_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mcp_resource_delivery, "SEND_TIMEOUT", 0.1)

    async def never_takes(uri: str) -> None:
        await anyio.sleep_forever()

    async def gone(uri: str) -> None:
        raise anyio.ClosedResourceError

    for send in (never_takes, gone):
        follower = Follower(AGENT, send)
        follower.tell("a://1")
        with anyio.fail_after(2):
            assert await follower.feed() is False


async def test_a_follower_cancelled_ends_quietly() -> None:
    follower = Follower(AGENT, lambda uri: anyio.lowlevel.checkpoint())
    follower.scope.cancel()
    assert await follower.feed() is True
