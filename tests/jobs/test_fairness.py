"""Workers take turns between principals: one agent's flood of jobs cannot starve another's."""

from __future__ import annotations

from pathlib import Path

import pytest

from pasarela.identity import Principal
from pasarela.jobs import JobStore
from pasarela.jobs.store import NewJob
from pasarela.state import open_state

pytestmark = pytest.mark.anyio


def new(owner: str, n: int) -> NewJob:
    return NewJob(Principal(owner), "tool", {"n": n}, "rest", f"{owner}-{n}", None, 3, 60.0, 3600.0)


async def test_a_flood_waits_its_turn_behind_another_principals_job(state_url: str, tmp_path: Path) -> None:
    state = await open_state(state_url, tmp_path)
    try:
        store = JobStore(state, max_active=1000)
        for n in range(30):
            await store.create(new("flooder", n))
        await store.create(new("modest", 0))
        order = [job.owner for _ in range(4) for job in await store.claim("w1", 1, 60.0)]
        assert order == ["flooder", "modest", "flooder", "flooder"], order
        # A batch claim takes turns too: one each first.
        await store.create(new("modest", 1))
        await store.create(new("third", 0))
        batch = await store.claim("w2", 3, 60.0)
        assert sorted(job.owner for job in batch) == ["flooder", "modest", "third"]
    finally:
        await state.aclose()
