"""An agent's `notifications/cancelled` stops the backend call made for it — the upstream MCP
request is cancelled upstream in turn, the HTTP request is dropped — and the call is audited
as cancelled; with the official client in both protocol eras."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import anyio
import pytest
from starlette.types import Receive, Scope, Send

from tests.helpers import asking_upstream
from tests.helpers.asking_gateway import AskingGateway, asking_gateway
from tests.helpers.gateway import WRITER_KEY
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.servers import ThreadedServer

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
MODES = ["legacy", "2026-07-28"]


class Hanging:
    """An HTTP backend that never answers, and notices when the gateway hangs up."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.disconnected = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.started.set()
        while (await receive())["type"] != "http.disconnect":
            pass
        self.disconnected.set()


@pytest.fixture(scope="module")
def hanging() -> Iterator[tuple[Hanging, str]]:
    backend = Hanging()
    with ThreadedServer(backend) as server:
        yield backend, server.url


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, hanging: tuple[Hanging, str]
) -> Iterator[AskingGateway]:
    with asking_gateway(tmp_path_factory.mktemp("mcp-cancel"), hanging[1]) as running:
        yield running


async def until(flag: threading.Event) -> None:
    with anyio.fail_after(15):
        while not flag.is_set():  # noqa: ASYNC110 - set by another thread
            await anyio.sleep(0.02)


async def cancel_once_started(
    url: str, mode: str, tool: str, arguments: dict[str, str], started: threading.Event
) -> None:
    """Call `tool`, and cancel the request (the client sends notifications/cancelled) once it
    reached its backend."""
    async with mcp_http_client(url, WRITER_KEY, mode=mode) as client, anyio.create_task_group() as group:
        group.start_soon(client.call_tool, tool, arguments)
        await until(started)
        group.cancel_scope.cancel()


async def next_outcome(gateway: AskingGateway, tool: str, before: int) -> str:
    """The outcome of the call of `tool` recorded after the first `before`."""
    with anyio.fail_after(10):
        while len(found := gateway.outcomes(tool)) <= before:  # noqa: ASYNC110 - another process writes it
            await anyio.sleep(0.05)
    return found[before]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", ["asking_", "modern_"], ids=["upstream-2025", "upstream-2026"])
async def test_cancelling_a_federated_call_cancels_it_upstream(
    gateway: AskingGateway, mode: str, upstream: str
) -> None:
    label, before = f"{mode}-{upstream}", len(gateway.outcomes(f"{upstream}linger"))
    asking_upstream.STARTED.clear()
    await cancel_once_started(
        gateway.mcp_url, mode, f"{upstream}linger", {"label": label}, asking_upstream.STARTED
    )
    with anyio.fail_after(15):
        while label not in asking_upstream.CANCELLED:  # noqa: ASYNC110 - the upstream runs in a thread
            await anyio.sleep(0.05)
    assert await next_outcome(gateway, f"{upstream}linger", before) == "cancelled"


@pytest.mark.parametrize("mode", MODES)
async def test_cancelling_an_http_call_drops_the_backend_request(
    gateway: AskingGateway, hanging: tuple[Hanging, str], mode: str
) -> None:
    backend, _ = hanging
    before = len(gateway.outcomes("getItem"))
    backend.started.clear()
    backend.disconnected.clear()
    await cancel_once_started(gateway.mcp_url, mode, "getItem", {"item_id": f"slow-{mode}"}, backend.started)
    await until(backend.disconnected)
    assert await next_outcome(gateway, "getItem", before) == "cancelled"
