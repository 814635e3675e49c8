"""Attacks on "no call escapes the audit trail": calls that reach a backend and then vanish."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from pasarela.audit import search
from pasarela.config import load_config
from pasarela.pipeline.call import Door
from pasarela.state import open_state
from tests.helpers.gateway import ENV, in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen, echo

pytestmark = pytest.mark.anyio


@pytest.fixture
def upstream() -> Iterator[tuple[RecordingUpstream, str]]:
    def behaviour(seen: Seen) -> Reply:
        # A write the backend takes its time over: the agent gives up while it is being done.
        return Reply(201, {"id": "new"}, delay=1.0) if seen.method == "POST" else echo(seen)

    recording = RecordingUpstream(behaviour)
    with ThreadedServer(recording) as server:
        yield recording, server.url


async def records_of(config: Path) -> list[dict[str, object]]:
    loaded = load_config(config, environ=ENV)
    store = await open_state(loaded.settings.state, loaded.base_dir)
    try:
        return await search(store)
    finally:
        await store.aclose()


async def test_a_call_the_agent_cancels_after_it_reached_the_backend_is_recorded(
    tmp_path: Path, upstream: tuple[RecordingUpstream, str]
) -> None:
    """MCP lets an agent cancel its own request (`notifications/cancelled`): the SDK cancels the
    handler task. The backend already has the write; the trail must have it too."""
    recording, url = upstream
    config = write_config(
        tmp_path, url, extra=f"state: sqlite:///{tmp_path / 'state.db'}\naudit: {{flush_interval: 50ms}}\n"
    )
    async with in_process(config) as (_, runtime):
        writer = next(p for p in runtime.authenticator.api_keys.principals() if p.id == "writer")
        async with anyio.create_task_group() as group:

            async def call() -> None:
                await runtime.gateway.call(writer, "createItem", {"name": "x"}, door=Door.MCP)

            group.start_soon(call)
            with anyio.fail_after(10):
                while not any(seen.method == "POST" for seen in recording.seen):  # noqa: ASYNC110 (another thread's list)
                    await anyio.sleep(0.01)
            group.cancel_scope.cancel()
    assert [seen.method for seen in recording.seen] == ["POST"], "the write reached the backend"
    summary = [(r["principal"], r["tool"], r["outcome"]) for r in await records_of(config)]
    assert summary == [("writer", "createItem", "cancelled")]
