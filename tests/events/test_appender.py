"""Group commit of webhook events: appends that arrive together share a transaction, each caller
is answered only once its event is committed, and a failed commit fails every event in it."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from pasarela.events.appender import GroupAppender
from pasarela.events.log import EventLog
from pasarela.events.model import Appended, NewEvent
from pasarela.state import open_state

pytestmark = pytest.mark.anyio


def event(n: int) -> NewEvent:
    return NewEvent("crm", f"e{n % 40}", "customer_updated", "2026-11-30T10:00:00Z", {"n": n}, str(n))


async def test_appends_arriving_together_share_commits_and_each_answer_follows_its_commit(
    state_url: str, tmp_path: Path
) -> None:
    store = await open_state(state_url, tmp_path)
    try:
        log = EventLog(store)
        appender = GroupAppender(log)
        answers: dict[int, Appended] = {}

        async def one(n: int) -> None:
            answers[n] = await appender.append(event(n))
            assert (await log.read(answers[n].seq - 1, 1))[0].id == f"e{n % 40}", "committed when answered"

        async with anyio.create_task_group() as group:
            for n in range(60):  # ids e0..e39, then e0..e19 again: duplicates, some in the same batch
                group.start_soon(one, n)
        assert appender.commits < 60, "appends that waited shared a transaction"
        assert await log.count() == 40
        assert sum(not a.duplicate for a in answers.values()) == 40
        for n in range(40, 60):
            assert answers[n].seq == answers[n - 40].seq and (
                answers[n].duplicate or answers[n - 40].duplicate
            )
    finally:
        await store.aclose()


class BrokenLog(EventLog):
    fail = True

    async def append(self, new: object, now: float | None = None) -> list[Appended]:
        if self.fail:
            raise OSError("the database went away")
        return await super().append(new, now)  # type: ignore[arg-type]


async def test_a_failed_commit_fails_each_of_its_events_and_the_next_ones_go_through(
    state_url: str, tmp_path: Path
) -> None:
    store = await open_state(state_url, tmp_path)
    try:
        log = BrokenLog(store)
        appender = GroupAppender(log)
        failures: list[Exception] = []

        async def one(n: int) -> None:
            try:
                await appender.append(event(n))
            except OSError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as group:
            for n in range(10):
                group.start_soon(one, n)
        assert len(failures) == 10 and await log.count() == 0, "no answer but a failure; nothing stored"
        log.fail = False
        assert (await appender.append(event(1))).duplicate is False
        assert await log.count() == 1
    finally:
        await store.aclose()
