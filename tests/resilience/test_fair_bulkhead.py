"""Issue 10: one agent cannot hold all of a backend's slots while others wait.

Unit tests drive the bulkhead with calls held open by events (no timing); the end-to-end test
floods a slow fault-injecting upstream from one agent and checks the other's call got a slot
before the flood drained, by the order the upstream saw the requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from pasarela.errors import Throttled
from pasarela.resilience import Bulkhead
from tests.helpers.faults import Answer, FaultyUpstream
from tests.helpers.gateway import READER_KEY, WRITER_KEY, bearer, gateway_for

pytestmark = pytest.mark.anyio


class Caller:
    """A call that holds its slot until released."""

    def __init__(self, bulkhead: Bulkhead, principal: str) -> None:
        self.principal = principal
        self.entered = asyncio.Event()
        self.done = asyncio.Event()
        self.task = asyncio.create_task(self._run(bulkhead))

    async def _run(self, bulkhead: Bulkhead) -> None:
        async with bulkhead.slot(self.principal):
            self.entered.set()
            await self.done.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def finish(*callers: Caller) -> None:
    for caller in callers:
        caller.done.set()
    await asyncio.gather(*(c.task for c in callers), return_exceptions=True)


async def test_alone_a_principal_may_use_every_slot() -> None:
    bulkhead = Bulkhead("crm", 4, 60)
    flood = [Caller(bulkhead, "sales") for _ in range(4)]
    await settle()
    assert all(c.entered.is_set() for c in flood) and bulkhead.held["sales"] == 4
    await finish(*flood)


async def test_a_freed_slot_goes_to_the_principal_below_its_share() -> None:
    bulkhead = Bulkhead("crm", 4, 60)
    flood = [Caller(bulkhead, "sales") for _ in range(10)]
    await settle()
    support = Caller(bulkhead, "support")
    await settle()
    assert not support.entered.is_set()  # every slot taken: it waits (behind six sales calls)
    assert bulkhead.share() == 2
    flood[0].done.set()
    await settle()
    assert support.entered.is_set()  # the first freed slot was support's, not the next sales call
    assert bulkhead.held == {"sales": 3, "support": 1}
    # Sales gets no more than its share back while support still wants slots.
    support2 = Caller(bulkhead, "support")
    flood[1].done.set()
    await settle()
    assert support2.entered.is_set() and bulkhead.held == {"sales": 2, "support": 2}
    await finish(*flood, support, support2)
    assert bulkhead.in_flight == 0 and not bulkhead.held


async def test_a_principal_over_its_share_still_gets_slots_nobody_else_wants() -> None:
    bulkhead = Bulkhead("crm", 2, 60)
    flood = [Caller(bulkhead, "sales") for _ in range(3)]
    support = Caller(bulkhead, "support")
    await settle()
    flood[0].done.set()
    await settle()
    assert support.entered.is_set()  # first the newcomer
    flood[1].done.set()
    await settle()
    assert flood[2].entered.is_set()  # then, nobody else waiting, sales again
    await finish(*flood, support)


async def test_per_principal_is_a_hard_cap() -> None:
    bulkhead = Bulkhead("crm", 4, 60, per_principal=2)
    flood = [Caller(bulkhead, "sales") for _ in range(3)]
    await settle()
    assert [c.entered.is_set() for c in flood] == [True, True, False]  # two free slots left idle
    support = Caller(bulkhead, "support")
    await settle()
    assert support.entered.is_set()  # at once: a free slot was kept for others
    await finish(*flood, support)


async def test_a_timed_out_or_cancelled_waiter_leaves_nothing_behind() -> None:
    bulkhead = Bulkhead("crm", 1, 0.05)
    holder = Caller(bulkhead, "sales")
    await settle()
    with pytest.raises(Throttled) as refused:
        async with bulkhead.slot("support"):
            pass
    assert "yours: 0" in refused.value.detail and refused.value.retry_after == 1.0
    waiting = asyncio.create_task(Bulkhead.slot(bulkhead, "support").__aenter__())
    await settle()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await finish(holder)
    assert bulkhead.in_flight == 0 and not bulkhead.held
    async with bulkhead.slot("support"):  # the slot is free again
        assert bulkhead.held == {"support": 1}


@pytest.fixture
def slow_upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream(Answer(200, {"id": "x"}, delay=0.4)) as server:
        yield server


async def test_a_flooding_agent_does_not_starve_another(
    tmp_path: Path, slow_upstream: FaultyUpstream
) -> None:
    items = "    concurrency: 2\n    concurrency_wait: 30s\n    retry: {attempts: 1}\n"
    async with gateway_for(tmp_path, slow_upstream.url, items=items) as (client, _):

        async def get(key: str, item: str) -> httpx.Response:
            return await client.post(
                "/v1/tools/getItem:call", json={"arguments": {"item_id": item}}, headers=bearer(key)
            )

        async with anyio.create_task_group() as tasks:
            for i in range(8):  # agent A floods: 2 in flight, 6 waiting
                tasks.start_soon(get, READER_KEY, f"a{i}")
            while slow_upstream.count() < 2:  # noqa: ASYNC110 - the upstream runs in its own thread
                await anyio.sleep(0.01)
            b = await get(WRITER_KEY, "b")
        assert b.status_code == 200, b.text
        paths = [path for _, path in slow_upstream.requests]
        # B's call took the first freed slot: third at the upstream, not ninth (after the flood).
        assert paths.index("/items/b") == 2, paths
