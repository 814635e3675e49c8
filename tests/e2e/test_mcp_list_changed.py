"""`notifications/tools/list_changed` when a reload changes what a session's principal may see:
a 2025-11-25 session hears it on its stream, a 2026-07-28 client on `subscriptions/listen`."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp.client.session import IncomingMessage
from mcp.shared.subscriptions import ToolsListChanged

from tests.helpers.gateway import ENV, READER_KEY, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import Served, served
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

ACCESS = "access:\n  reader: [getItem]\n  writer: ['*']\n"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    with ThreadedServer(RecordingUpstream()) as upstream:
        port = free_port()
        config = write_config(
            tmp_path, upstream.url, port=port, extra=f"state: sqlite:///{tmp_path / 'state.db'}\n{ACCESS}"
        )
        with served(config, port, ENV, log=tmp_path / "serve.log") as handle:
            yield handle, config


def grant_reader(config: Path, tools: str) -> None:
    """Edit the reader's grant in the configuration (the gateway sees it at its next reload)."""
    text = config.read_text()
    config.write_text(text.replace("  reader: [getItem]\n", f"  reader: [{tools}]\n"))


async def reload_until(served: Served, heard: anyio.Event) -> None:
    """SIGHUP the gateway (again, should a reload land before the client listens) until `heard`."""
    with anyio.fail_after(20):
        while not heard.is_set():
            served.process.send_signal(signal.SIGHUP)
            with anyio.move_on_after(1):
                await heard.wait()


async def test_a_2025_session_hears_that_its_tools_changed(gateway: tuple[Served, Path]) -> None:
    served_gateway, config = gateway
    heard = anyio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            heard.set()

    async with mcp_http_client(
        f"{served_gateway.url}/mcp", READER_KEY, mode="legacy", message_handler=on_message
    ) as client:
        assert client.server_capabilities.tools is not None
        assert client.server_capabilities.tools.list_changed is True
        assert [t.name for t in (await client.list_tools()).tools] == ["getItem"]
        grant_reader(config, "getItem, greet")
        await reload_until(served_gateway, heard)
        assert [t.name for t in (await client.list_tools()).tools] == ["getItem", "greet"]


async def test_a_2026_client_hears_it_on_its_listen_stream(gateway: tuple[Served, Path]) -> None:
    served_gateway, config = gateway
    heard = anyio.Event()
    async with mcp_http_client(f"{served_gateway.url}/mcp", READER_KEY, mode="2026-07-28") as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["getItem"]
        async with client.listen(tools_list_changed=True) as subscription, anyio.create_task_group() as group:

            async def wait_for_event() -> None:
                async for event in subscription:
                    if isinstance(event, ToolsListChanged):
                        heard.set()
                        return

            group.start_soon(wait_for_event)
            grant_reader(config, "greet")
            await reload_until(served_gateway, heard)
            group.cancel_scope.cancel()
        assert [t.name for t in (await client.list_tools()).tools] == ["greet"]
