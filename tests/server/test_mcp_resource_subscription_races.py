"""Subscriptions to federated resources under pressure, with the official client against a running
gateway and a real upstream MCP server: agents subscribing to the same new URI while the upstream
is slow and then refuses, listen streams and sessions that end, a reload while a subscription is
being made, an upstream that restarts refusing one of the followed URIs, and a 2026-07-28
upstream's listen stream opened again for a newcomer while others follow."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from pasarela.config import load_config
from pasarela.connectors import upstream_mcp_watch
from tests.helpers.content_gateway import running_live_gateway
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY
from tests.helpers.mcp_clients import mcp_http_client, subscribe_legacy
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.watched_upstream import BOARD, UpstreamProcess, WatchedUpstream
from tests.server.test_mcp_resource_subscriptions import TICKET, agent, config_text, touch

pytestmark = pytest.mark.anyio


@pytest.fixture
def upstream() -> Iterator[tuple[WatchedUpstream, str]]:
    watched = WatchedUpstream()
    with ThreadedServer(watched.app(), lifespan=True) as server:
        yield watched, server.url


async def held(watched: WatchedUpstream) -> None:
    """Until a request waits at the upstream's closed gate."""
    assert await anyio.to_thread.run_sync(watched.held.wait, 10), "nothing reached the upstream"


async def subscribe(url: str, key: str, uri: str) -> str:
    """`resources/subscribe` on a session of its own: "ok", or the refusal's message."""
    async with mcp_http_client(f"{url}/mcp", key, mode="legacy") as client:
        try:
            await subscribe_legacy(client, uri)
        except MCPError as exc:
            return exc.error.message
        return "ok"


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most 30 s) until `condition()` is true: what another server does in its own time."""
    with anyio.move_on_after(30):
        while not condition():  # noqa: ASYNC110 - another server's doing
            await anyio.sleep(0.05)
        return
    raise AssertionError(f"not {what} within 30 s")


@pytest.mark.parametrize("upstream_era", ["2025-11-25", "2026-07-28"])
async def test_agents_subscribing_to_a_uri_the_upstream_is_still_deciding_share_its_refusal(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str], upstream_era: str
) -> None:
    watched, base = upstream
    watched.refuse.add(TICKET)
    config = config_text(tmp_path, f"{base}/mcp", upstream_era)
    async with running_live_gateway(config, ENV) as (url, _):
        answers: dict[str, str] = {}

        async def one(key: str) -> None:
            answers[key] = await subscribe(url, key, TICKET)

        watched.gate.clear()
        async with anyio.create_task_group() as group:
            group.start_soon(one, READER_KEY)
            await held(watched)
            group.start_soon(one, WRITER_KEY)  # while the upstream has not answered the first
            await anyio.sleep(0.5)  # room for the second to arrive; the outcome must not depend on it
            watched.gate.set()
    # The upstream refused the URI: the second agent must not be told it follows it.
    assert answers[READER_KEY] != "ok"
    assert answers[WRITER_KEY] != "ok", "subscribed to a URI the upstream refused"


async def test_a_closed_listen_stream_leaves_nothing_followed_upstream(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str]
) -> None:
    watched, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2025-11-25")
    async with running_live_gateway(config, ENV) as (url, _):
        async with agent(url, READER_KEY, "2026-07-28", [BOARD, TICKET]) as reader:
            assert reader.honored == [BOARD, TICKET]
        # The stream is closed: the upstream is told the gateway follows neither any more.
        await until(lambda: sorted(watched.unsubscribed) == [BOARD, TICKET], "unsubscribed upstream")


async def test_a_session_deleted_while_its_subscription_is_made_leaves_nothing_followed(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str]
) -> None:
    watched, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2025-11-25")
    async with running_live_gateway(config, ENV) as (url, _):
        ids: list[str] = []
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {READER_KEY}"})

        async def remember(response: httpx2.Response) -> None:
            if "mcp-session-id" in response.headers:
                ids.append(response.headers["mcp-session-id"])

        http.event_hooks["response"].append(remember)
        watched.gate.clear()
        async with (
            http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client,
            anyio.create_task_group() as group,
        ):

            async def follow() -> None:
                with contextlib.suppress(MCPError):
                    await subscribe_legacy(client, TICKET)

            group.start_soon(follow)
            await held(watched)
            async with httpx2.AsyncClient() as other:  # the session ends while the upstream decides
                ended = await other.delete(
                    f"{url}/mcp",
                    headers={"Authorization": f"Bearer {READER_KEY}", "Mcp-Session-Id": ids[0]},
                )
            assert ended.status_code == 200, ended.text
            watched.gate.set()
        # Another agent follows the ticket and leaves: nobody follows it, so the upstream is told.
        assert await subscribe(url, WRITER_KEY, TICKET) == "ok"
        await until(lambda: TICKET in watched.unsubscribed, "unsubscribed upstream")


async def test_a_subscription_made_during_a_reload_is_followed_on_the_new_runtime(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str]
) -> None:
    watched, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2025-11-25")
    async with running_live_gateway(config, ENV) as (url, live):
        received: list[str] = []
        async with mcp_http_client(f"{url}/mcp", READER_KEY, mode="legacy") as client:
            # The standalone stream is opened with the session; updates arrive through the handler.
            async def follow() -> None:
                await subscribe_legacy(client, BOARD)
                received.append("subscribed")

            watched.gate.clear()
            async with anyio.create_task_group() as group:
                group.start_soon(follow)
                await held(watched)
                old = await live.reload(lambda: load_config(config, environ=ENV))
                assert old is not None
                watched.gate.set()
            assert received == ["subscribed"]
            assert old is not None
            await live.retire(old, 0)  # the runtime the subscription was asked on is closed
            # The new runtime's session is subscribed to the board too.
            await until(lambda: watched.subscribed.count(BOARD) == 2, "subscribed on the new runtime")


async def test_a_newcomer_on_a_2026_upstream_does_not_make_others_miss_updates(
    tmp_path: Path, upstream: tuple[WatchedUpstream, str]
) -> None:
    watched, base = upstream
    config = config_text(tmp_path, f"{base}/mcp", "2026-07-28")
    async with (
        running_live_gateway(config, ENV) as (url, _),
        agent(url, WRITER_KEY, "2026-07-28", [BOARD]) as writer,
    ):
        assert writer.honored == [BOARD]
        watched.gate.clear()
        async with anyio.create_task_group() as group:
            group.start_soon(subscribe, url, READER_KEY, TICKET)  # the upstream stream is made again
            await held(watched)
            await touch(base, BOARD)  # while the new stream is not yet acknowledged
            watched.gate.set()
        assert await writer.next() == BOARD


async def test_an_upstream_that_restarts_refusing_one_uri_still_follows_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_mcp_watch, "HEARTBEAT", 0.5)
    process = UpstreamProcess(free_port())
    first, later = "watch://tickets/1", "watch://tickets/9"
    config = config_text(tmp_path, f"{process.base}/mcp", "2025-11-25")
    process.start()
    try:
        async with (
            running_live_gateway(config, ENV) as (url, _),
            agent(url, READER_KEY, "2026-07-28", [first, later]) as reader,
        ):
            assert reader.honored == [first, later]
            process.kill()
            process.start(refuse=first)  # it no longer knows the first ticket
            with anyio.fail_after(30):
                while later not in (await process.record())["subscribed"]:  # noqa: ASYNC110
                    await anyio.sleep(0.2)
            await touch(process.base, later)
            assert await reader.next() == later
    finally:
        process.kill()
