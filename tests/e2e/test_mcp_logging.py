"""Logging over MCP: `logging/setLevel` per session, an upstream's log messages relayed to the
calling agent, and the gateway's own notices about a call — with the official client, in both
protocol eras."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mcp_types as types
import pytest

from tests.helpers.asking_gateway import UPSTREAM_TOKEN, AskingGateway, asking_gateway
from tests.helpers.gateway import READER_KEY, WRITER_KEY
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


class Flaky:
    """Fails the first request of each item with 503, then answers."""

    def __init__(self) -> None:
        self.failed: set[str] = set()

    def __call__(self, seen: Seen) -> Reply:
        if seen.raw_path not in self.failed:
            self.failed.add(seen.raw_path)
            return Reply(503, {"error": "warming up"})
        return Reply(200, {"id": seen.raw_path.rsplit("/", 1)[-1], "name": "widget"})


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AskingGateway]:
    directory = tmp_path_factory.mktemp("mcp-logging")
    with ThreadedServer(RecordingUpstream(Flaky())) as items, asking_gateway(directory, items.url) as running:
        yield running


class Heard:
    def __init__(self) -> None:
        self.messages: list[types.LoggingMessageNotificationParams] = []

    async def __call__(self, params: types.LoggingMessageNotificationParams) -> None:
        self.messages.append(params)

    def of(self, logger: str) -> list[tuple[str, Any]]:
        return [(m.level, m.data) for m in self.messages if m.logger == logger]


async def test_the_upstreams_log_messages_reach_the_caller_at_its_level(gateway: AskingGateway) -> None:
    heard = Heard()
    async with mcp_http_client(gateway.mcp_url, WRITER_KEY, mode="legacy", logging_callback=heard) as client:
        assert client.server_capabilities.logging is not None
        await client.set_logging_level("info")
        result = await client.call_tool("asking_chatty", {"steps": 2})
        assert not result.is_error, result
    relayed = heard.of("asking")
    assert [level for level, _ in relayed] == ["info", "info", "warning"], (
        "debug is below the session's level"
    )
    assert relayed[0][1] == "working on step 1 of 2"
    # The upstream's own words, with the gateway's secrets masked.
    assert UPSTREAM_TOKEN not in str(relayed[2][1])


async def test_each_session_has_its_own_level(gateway: AskingGateway) -> None:
    loud, quiet = Heard(), Heard()
    async with (
        mcp_http_client(gateway.mcp_url, WRITER_KEY, mode="legacy", logging_callback=loud) as first,
        mcp_http_client(gateway.mcp_url, WRITER_KEY, mode="legacy", logging_callback=quiet) as second,
    ):
        await first.set_logging_level("debug")
        await second.set_logging_level("error")
        await first.call_tool("asking_chatty", {"steps": 1})
        await second.call_tool("asking_chatty", {"steps": 1})
    assert [level for level, _ in loud.of("asking")] == ["debug", "info", "warning"]
    assert quiet.messages == []


async def test_a_backend_can_keep_its_logs_to_itself(gateway: AskingGateway) -> None:
    heard = Heard()
    async with mcp_http_client(gateway.mcp_url, WRITER_KEY, mode="legacy", logging_callback=heard) as client:
        await client.set_logging_level("debug")
        assert not (await client.call_tool("shy_chatty", {"steps": 1})).is_error
    assert heard.messages == []


@pytest.mark.parametrize("asked", [None, "warning"])
async def test_2026_requests_opt_in_with_their_meta(gateway: AskingGateway, asked: str | None) -> None:
    heard = Heard()
    async with mcp_http_client(
        gateway.mcp_url, WRITER_KEY, mode="2026-07-28", logging_callback=heard, log_level=asked
    ) as client:
        result = await client.call_tool("modern_chatty", {"steps": 1})
        assert not result.is_error, result
    if asked is None:
        assert heard.messages == [], "no opt-in, no log messages (2026-07-28)"
    else:
        assert [level for level, _ in heard.of("asking_modern")] == ["warning"]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_gateway_says_when_it_retried(gateway: AskingGateway, mode: str) -> None:
    heard = Heard()
    options: dict[str, Any] = {"log_level": "info"} if mode != "legacy" else {}
    async with mcp_http_client(
        gateway.mcp_url, READER_KEY, mode=mode, logging_callback=heard, **options
    ) as client:
        result = await client.call_tool("getItem", {"item_id": f"retry-{mode}"})
        assert not result.is_error, result
    notices = heard.of("pasarela")
    assert len(notices) == 1, heard.messages
    level, text = notices[0]
    assert level == "notice"
    assert text == "items failed (HTTP 503); trying getItem again"
