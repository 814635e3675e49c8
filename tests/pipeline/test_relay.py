"""The agent's side of a call: notices from the stages, and an upstream's requests decided by
policy and audited (pipeline/relay.py), with a channel standing in for the door."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from pasarela.errors import RelayRefused
from pasarela.pipeline import Door
from pasarela.pipeline.relay import CallRelay, agent_channel, notice, severity
from tests.helpers.gateway import in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen

pytestmark = pytest.mark.anyio


class Channel:
    def __init__(self, level: str = "debug", can_ask: bool = True) -> None:
        self.level = level
        self.posted: list[tuple[str, Any, str | None]] = []
        self.asked: list[tuple[str, Mapping[str, Any]]] = []
        self._can_ask = can_ask

    def wants(self, level: str) -> bool:
        return severity(level) >= severity(self.level)

    def post(self, level: str, data: Any, logger: str | None) -> None:
        self.posted.append((level, data, logger))

    def can_ask(self, method: str) -> bool:
        return self._can_ask

    async def ask(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.asked.append((method, params))
        return {"answered": True}


def test_a_notice_without_a_channel_goes_nowhere() -> None:
    notice("warning", "nobody listens")  # no error, no effect


def test_a_notice_reaches_a_channel_that_listens_at_its_level() -> None:
    channel = Channel("warning")
    with agent_channel(channel):
        notice("notice", "below the level")
        notice("warning", "served stale")
    assert channel.posted == [("warning", "served stale", "pasarela")]


async def test_a_relay_asks_only_what_policy_allows_and_records_each_time() -> None:
    recorded: list[tuple[str, Mapping[str, Any]]] = []
    allowed = {"sample": (False, "batch agents never sample"), "elicit": (True, "")}
    channel = Channel()
    relay = CallRelay("crm", channel, lambda action: allowed[action], lambda o, s: recorded.append((o, s)))
    with pytest.raises(
        RelayRefused, match="policy does not let crm ask the agent for sampling: batch agents"
    ):
        await relay.ask("sampling/createMessage", {"messages": []}, {"method": "sampling/createMessage"})
    assert await relay.ask("elicitation/create", {"message": "sure?"}, {"mode": "form"}) == {"answered": True}
    with pytest.raises(RelayRefused, match="does not relay"):
        await relay.ask("roots/list", {}, {})
    assert channel.asked == [("elicitation/create", {"message": "sure?"})]
    assert [o for o, _ in recorded] == ["sampling_denied", "elicitation_relayed"]


async def test_a_relay_without_a_way_to_the_agent_refuses_and_records_it() -> None:
    recorded: list[str] = []
    for channel in (None, Channel(can_ask=False)):
        relay = CallRelay("crm", channel, lambda action: (True, ""), lambda o, s: recorded.append(o))
        with pytest.raises(RelayRefused, match="cannot be asked for elicitation"):
            await relay.ask("elicitation/create", {}, {})
    assert recorded == ["elicitation_unavailable", "elicitation_unavailable"]


async def test_an_upstream_cannot_ask_without_end() -> None:
    from pasarela.pipeline.relay import MAX_ASKS

    recorded: list[str] = []
    channel = Channel()
    relay = CallRelay("crm", channel, lambda action: (True, ""), lambda o, s: recorded.append(o))
    for _ in range(MAX_ASKS):
        await relay.ask("elicitation/create", {"message": "again?"}, {})
    with pytest.raises(RelayRefused, match=f"more than {MAX_ASKS} times"):
        await relay.ask("elicitation/create", {"message": "again?"}, {})
    assert len(channel.asked) == MAX_ASKS
    assert recorded[-1] == "elicitation_denied"


class FailsAfterFirst:
    """Answers the first request, then is unavailable."""

    def __init__(self) -> None:
        self.answered = False

    def __call__(self, seen: Seen) -> Reply:
        if self.answered:
            return Reply(503, {"error": "down"})
        self.answered = True
        return Reply(200, {"id": "1", "name": "widget"})


@pytest.fixture
def flaky_url() -> Iterator[str]:
    with ThreadedServer(RecordingUpstream(FailsAfterFirst())) as server:
        yield server.url


async def test_retries_and_a_stale_copy_are_told_to_the_agent(tmp_path: Path, flaky_url: str) -> None:
    tools = "tools:\n  getItem: {cache: {ttl: 1ms, stale_for: 1h}, fallback: [cache]}\n"
    retry = "    retry: {attempts: 2, wait_initial: 1ms, wait_jitter: 0s}\n"
    config = write_config(tmp_path, flaky_url, items=retry, extra=f"audit: {{enabled: false}}\n{tools}")
    async with in_process(config) as (_, runtime):
        reader = next(p for p in runtime.authenticator.api_keys.principals() if p.id == "reader")
        first = await runtime.gateway.call(reader, "getItem", {"item_id": "1"}, door=Door.MCP)
        assert first.cache == "miss"
        await anyio.sleep(0.01)  # past the 1 ms ttl: the next call goes to the backend
        channel = Channel("info")
        with agent_channel(channel):
            second = await runtime.gateway.call(reader, "getItem", {"item_id": "1"}, door=Door.MCP)
    assert second.cache == "stale"
    [(retried_level, retried, _), (stale_level, stale, logger)] = channel.posted
    assert (retried_level, retried) == ("notice", "items failed (HTTP 503); trying getItem again")
    assert stale_level == "warning" and logger == "pasarela"
    assert stale.startswith("items is unavailable (upstream_error); this is the value cached at ")
