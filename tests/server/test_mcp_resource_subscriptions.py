"""Subscriptions to federated resources, with the official client against a running gateway and
a real upstream MCP server, for each protocol era on each side: the upstream is asked once per
URI whoever follows it, its updates reach the agents that may still read the resource and no
other, the last one leaving unsubscribes upstream, and a reload that forbids a reader stops its
updates. Declared resources tell their followers when a reload changes them; resources made by a
tool refuse subscriptions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client, MCPError
from mcp.client.session import IncomingMessage
from mcp.client.subscriptions import SubscriptionLost

from pasarela.config import load_config
from pasarela.connectors import upstream_mcp_watch
from pasarela.server import mcp_resource_follow
from tests.helpers.content_gateway import running_live_gateway
from tests.helpers.content_upstream import upstream_app
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, write_config
from tests.helpers.mcp_clients import mcp_http_client, subscribe_legacy
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.watched_upstream import BOARD, SECRET_BOARD, UpstreamProcess, WatchedUpstream

pytestmark = pytest.mark.anyio
UPSTREAM_ERAS = ["2025-11-25", "2026-07-28"]
AGENT_ERAS = ["legacy", "2026-07-28"]
TICKET = "watch://tickets/7"
READER_MAY_NOT = """\
  forbid(principal, action == Action::"read_resource", resource == Resource::"up_secret_board")
  unless { principal in Role::"writer" };
"""


def config_text(
    directory: Path, upstream: str, protocol: str, *, forbid_board: bool = False, watched: bool = True
) -> Path:
    """`watched`: the upstream is a WatchedUpstream (the policies name its resources)."""
    board = (
        'forbid(principal in Role::"reader", action == Action::"read_resource", resource == Resource::"up_board");\n'
        if forbid_board
        else ""
    )
    backends = f"  up:\n    mcp: {upstream}\n    prefix: up_\n    protocol: {protocol}\n"
    extra = f"""\
resources:
  notice: {{uri: "pasarela://notice", text: "Closed on Friday"}}
  greeting_of:
    uri_template: pasarela://greetings/{{name}}
    tool: {{name: greet}}
policies: |
  permit(principal, action == Action::"read_resource", resource);
{READER_MAY_NOT if watched else ""}  {board}"""
    return write_config(directory, "http://127.0.0.1:9", backends=backends, extra=extra)


@pytest.fixture
def upstream() -> Iterator[tuple[WatchedUpstream, str]]:
    watched = WatchedUpstream()
    with ThreadedServer(watched.app(), lifespan=True) as server:
        yield watched, server.url


class Agent:
    """One agent following resources: over a 2025-11-25 session (`resources/subscribe`) or a
    2026-07-28 `subscriptions/listen` stream; what it hears is in `heard`."""

    def __init__(self, client: Client, era: str) -> None:
        self.client = client
        self.era = era
        self.heard: list[str] = []
        self.arrived = anyio.Event()
        self.honored: list[str] = []

    def hear(self, uri: str) -> None:
        self.heard.append(uri)
        self.arrived.set()

    async def next(self, timeout: float = 10) -> str:
        with anyio.fail_after(timeout):
            await self.arrived.wait()
        self.arrived = anyio.Event()
        return self.heard[-1]


@asynccontextmanager
async def agent(url: str, key: str, era: str, uris: list[str]) -> AsyncIterator[Agent]:
    """An agent following `uris` (those it may not follow are refused: left out of `honored`)."""
    box: list[Agent] = []

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ResourceUpdatedNotification) and box:
            box[0].hear(message.params.uri)

    async with AsyncExitStack() as stack:
        options: dict[str, Any] = {"message_handler": on_message} if era == "legacy" else {}
        client = await stack.enter_async_context(mcp_http_client(f"{url}/mcp", key, mode=era, **options))
        follower = Agent(client, era)
        box.append(follower)
        if era == "legacy":
            for uri in uris:
                try:
                    await subscribe_legacy(client, uri)
                    follower.honored.append(uri)
                except MCPError:
                    pass
            yield follower
            return
        stream = await stack.enter_async_context(client.listen(resource_subscriptions=uris))
        follower.honored = list(stream.honored.resource_subscriptions or ())
        async with anyio.create_task_group() as group:

            async def read_stream() -> None:
                with contextlib.suppress(SubscriptionLost, MCPError):  # the server ended the stream
                    async for event in stream:
                        follower.hear(getattr(event, "uri", ""))

            group.start_soon(read_stream)
            yield follower
            group.cancel_scope.cancel()


async def touch(base: str, uri: str) -> None:
    async with httpx.AsyncClient() as http:
        (await http.post(f"{base}/touch", params={"uri": uri})).raise_for_status()


@pytest.mark.parametrize("upstream_era", UPSTREAM_ERAS)
@pytest.mark.parametrize("agent_era", AGENT_ERAS)
async def test_updates_reach_the_agents_that_may_read_and_the_upstream_is_asked_once(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str], upstream_era: str, agent_era: str
) -> None:
    watched, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", upstream_era)
    async with (
        running_live_gateway(config, ENV) as (url, _),
        agent(url, READER_KEY, agent_era, [BOARD, TICKET, SECRET_BOARD]) as reader,
        agent(url, WRITER_KEY, agent_era, [BOARD, SECRET_BOARD]) as writer,
    ):
        assert reader.honored == [BOARD, TICKET]  # the secret board is not there for the reader
        assert writer.honored == [BOARD, SECRET_BOARD]
        if upstream_era == "2025-11-25":  # once per URI, whoever follows it
            assert sorted(watched.subscribed) == [BOARD, SECRET_BOARD, TICKET]
        else:  # one stream naming every followed URI
            assert sorted(watched.listens[-1]) == [BOARD, SECRET_BOARD, TICKET]
        await touch(base, SECRET_BOARD)
        assert await writer.next() == SECRET_BOARD
        await touch(base, TICKET)
        assert await reader.next() == TICKET  # the reader heard nothing of the secret board before
        await touch(base, BOARD)
        assert await reader.next() == BOARD
        assert await writer.next() == BOARD
        assert reader.heard == [TICKET, BOARD]
        assert writer.heard == [SECRET_BOARD, BOARD]


@pytest.mark.parametrize("upstream_era", UPSTREAM_ERAS)
async def test_the_last_follower_leaving_unsubscribes_upstream(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str], upstream_era: str
) -> None:
    watched, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", upstream_era)
    async with running_live_gateway(config, ENV) as (url, _):
        async with agent(url, READER_KEY, "legacy", [BOARD]) as first:
            async with agent(url, WRITER_KEY, "legacy", [BOARD]):
                pass  # leaves (its session ends): the first still follows
            if upstream_era == "2025-11-25":
                assert watched.unsubscribed == []
            await touch(base, BOARD)
            assert await first.next() == BOARD
            await subscribe_legacy(first.client, BOARD, leave=True)
        async with agent(url, READER_KEY, "2026-07-28", [TICKET]) as later:
            await touch(base, BOARD)
            await touch(base, TICKET)
            assert await later.next() == TICKET
            assert later.heard == [TICKET]
    if upstream_era == "2025-11-25":
        # The ticket's stream closes as the gateway stops: it may be unsubscribed upstream too
        # (tests/server/test_mcp_resource_subscription_races.py shows a closed stream is).
        assert watched.unsubscribed[:1] == [BOARD]
        assert watched.subscribed == [BOARD, TICKET]
    else:  # the stream opened for the ticket no longer names the board
        assert watched.listens == [[BOARD], [TICKET]]


@pytest.mark.parametrize("agent_era", AGENT_ERAS)
async def test_a_reload_that_forbids_the_reader_stops_its_updates(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str], agent_era: str
) -> None:
    _, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2026-07-28")
    async with (
        running_live_gateway(config, ENV) as (url, live),
        agent(url, READER_KEY, agent_era, [BOARD, TICKET]) as reader,
        agent(url, WRITER_KEY, agent_era, [BOARD]) as writer,
    ):
        config_text(tmp_path, f"{base}/mcp", "2026-07-28", forbid_board=True)
        assert await live.reload(lambda: load_config(config, environ=ENV)) is not None
        await touch(base, BOARD)  # heard upstream on the new runtime's session
        assert await writer.next() == BOARD
        await touch(base, TICKET)
        assert await reader.next() == TICKET
        assert reader.heard == [TICKET]  # the board is no longer the reader's to hear of


@pytest.mark.parametrize("agent_era", AGENT_ERAS)
async def test_declared_resources_tell_their_followers_when_a_reload_changes_them(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str], agent_era: str
) -> None:
    _, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2025-11-25")
    async with (
        running_live_gateway(config, ENV) as (url, live),
        agent(url, READER_KEY, agent_era, ["pasarela://notice", "pasarela://greetings/Ada"]) as reader,
    ):
        assert reader.honored == ["pasarela://notice"]  # made by a tool: not followable
        assert await live.reload(lambda: load_config(config, environ=ENV)) is not None
        with anyio.move_on_after(0.5):
            await reader.next()
        assert reader.heard == []  # unchanged: nothing to tell
        config.write_text(config.read_text().replace("Closed on Friday", "Open on Friday"))
        assert await live.reload(lambda: load_config(config, environ=ENV)) is not None
        assert await reader.next() == "pasarela://notice"
        read = await reader.client.read_resource("pasarela://notice")
        assert getattr(read.contents[0], "text", None) == "Open on Friday"


async def test_a_tool_made_resource_refuses_with_a_reason(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str]
) -> None:
    _, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2025-11-25")
    async with (
        running_live_gateway(config, ENV) as (url, _),
        mcp_http_client(f"{url}/mcp", READER_KEY, mode="legacy") as client,
    ):
        refused = await refusal(client, "pasarela://greetings/Ada")
        unknown = await refusal(client, "watch://nothing-here")
    assert "made by the tool greet" in refused.message
    assert "Resource not found" in unknown.message


async def refusal(client: Client, uri: str) -> types.ErrorData:
    try:
        await subscribe_legacy(client, uri)
    except MCPError as exc:
        return exc.error
    raise AssertionError(f"subscribing to {uri} was accepted")


async def test_an_upstream_that_offers_no_subscriptions_refuses_in_the_gateways_words(tmp_path: Path) -> None:
    with ThreadedServer(upstream_app(), lifespan=True) as server:  # a 2025-11-25 MCPServer: no subscribe
        config = config_text(tmp_path, f"{server.url}/mcp", "2025-11-25", watched=False)
        async with (
            running_live_gateway(config, ENV) as (url, _),
            mcp_http_client(f"{url}/mcp", READER_KEY, mode="legacy") as client,
        ):
            refused = await refusal(client, "docs://handbook")
            assert (await client.read_resource("docs://handbook")).contents  # reading it is fine
    assert "up does not offer resource subscriptions" in refused.message


async def test_one_upstream_is_asked_to_follow_a_bounded_number_of_uris(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_mcp_watch, "MAX_FOLLOWED", 3)
    watched, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2025-11-25")
    tickets = [f"watch://tickets/{n}" for n in range(5)]
    async with (
        running_live_gateway(config, ENV) as (url, _),
        agent(url, READER_KEY, "legacy", tickets) as reader,
    ):
        assert reader.honored == tickets[:3]
        async with mcp_http_client(f"{url}/mcp", WRITER_KEY, mode="legacy") as other:
            refused = await refusal(other, tickets[4])
            await subscribe_legacy(other, tickets[0])  # already followed: costs nothing more
    assert "at most 3 of up's resources" in refused.message
    assert watched.subscribed == tickets[:3]


@pytest.mark.parametrize("upstream_era", UPSTREAM_ERAS)
async def test_subscriptions_are_made_again_when_the_upstream_restarts(
    tmp_path: Path, upstream_era: str
) -> None:
    upstream = UpstreamProcess(free_port())
    config = config_text(tmp_path, f"{upstream.base}/mcp", upstream_era)
    upstream.start()
    try:
        async with (
            running_live_gateway(config, ENV) as (url, _),
            agent(url, READER_KEY, "2026-07-28", [BOARD]) as reader,
        ):
            assert reader.honored == [BOARD]
            upstream.kill()  # it comes back knowing nothing of the gateway
            upstream.start()
            with anyio.fail_after(30):  # made again on a new session, without any agent asking
                while not any((await upstream.record()).values()):  # noqa: ASYNC110 - another process
                    await anyio.sleep(0.2)
            await touch(upstream.base, BOARD)
            assert await reader.next() == BOARD
    finally:
        upstream.kill()


@pytest.mark.parametrize("agent_era", AGENT_ERAS)
async def test_a_key_a_reload_removes_hears_no_more(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str], agent_era: str
) -> None:
    _, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2025-11-25")
    async with (
        running_live_gateway(config, ENV) as (url, live),
        agent(url, READER_KEY, agent_era, [BOARD]) as reader,
        agent(url, WRITER_KEY, agent_era, [BOARD]) as writer,
    ):
        text = config.read_text()
        revoked = '    - {principal: writer, key: "${secret:WRITER_KEY}", roles: [writer]}\n'
        assert revoked in text
        config.write_text(text.replace(revoked, ""))
        assert await live.reload(lambda: load_config(config, environ=ENV)) is not None
        await touch(base, BOARD)
        assert await reader.next() == BOARD
        with anyio.move_on_after(0.5):
            await writer.next()
        assert writer.heard == []  # its requests are refused from now on: so are its notifications


async def test_one_principal_follows_a_bounded_number_of_resources(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mcp_resource_follow, "MAX_PER_PRINCIPAL", 2)
    _, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2025-11-25")
    tickets = [f"watch://tickets/{n}" for n in range(3)]
    async with (
        running_live_gateway(config, ENV) as (url, _),
        agent(url, READER_KEY, "legacy", tickets[:2]) as first,
        agent(url, READER_KEY, "2026-07-28", [tickets[0], tickets[2]]) as second,
        agent(url, WRITER_KEY, "legacy", [tickets[2]]) as other,
    ):
        assert first.honored == tickets[:2]
        assert second.honored == [tickets[0]]  # a third resource is one too many for the reader
        assert other.honored == [tickets[2]]  # another principal is not held back by it
        refused = await refusal(first.client, tickets[2])
    assert "at most 2 resources followed at once by one principal" in refused.message


async def test_followers_of_a_declared_resource_a_reload_removes_are_told(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str]
) -> None:
    _, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2025-11-25")
    async with (
        running_live_gateway(config, ENV) as (url, live),
        agent(url, READER_KEY, "legacy", ["pasarela://notice"]) as reader,
    ):
        config.write_text(
            config.read_text().replace('  notice: {uri: "pasarela://notice", text: "Closed on Friday"}\n', "")
        )
        assert await live.reload(lambda: load_config(config, environ=ENV)) is not None
        assert await reader.next() == "pasarela://notice"
        with pytest.raises(MCPError, match="Resource not found"):  # reading it again says it is gone
            await reader.client.read_resource("pasarela://notice")
