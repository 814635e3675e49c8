"""A stream outlives no credential: an event stream (REST SSE) and an MCP session's standalone
stream end when a reload removes the API key that opened them, or changes its roles; nothing is
delivered to them after that. Against a running gateway, with httpx and the official client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from pasarela.config import load_config
from tests.events.support import ENV, SUPPORT_EU_KEY, config_text, served_live, write
from tests.events.test_delivery import send
from tests.events.test_mcp_event_resources import EU_URI
from tests.helpers.gateway import sha
from tests.helpers.mcp_clients import mcp_http_client, subscribe_legacy

pytestmark = pytest.mark.anyio
EU_KEY_LINE = (
    f'    - {{principal: support-eu, key_sha256: "{sha(SUPPORT_EU_KEY)}", roles: [support], '
    "attributes: {region: EU}}\n"
)


def revoke(config: Path, replacement: str = "") -> None:
    text = config.read_text()
    assert EU_KEY_LINE in text
    config.write_text(text.replace(EU_KEY_LINE, replacement))


@pytest.mark.parametrize("change", ["removed", "roles changed"])
async def test_an_event_stream_ends_when_its_key_no_longer_holds(tmp_path: Path, change: str) -> None:
    config = write(tmp_path, config_text(f"sqlite:///{tmp_path / 'state.db'}"))
    received: list[str] = []
    first = anyio.Event()
    async with served_live(config) as (client, live):

        async def listen() -> None:
            headers = {"Authorization": f"Bearer {SUPPORT_EU_KEY}"}
            async with client.stream(
                "GET", "/v1/events/stream?types=customer_updated", headers=headers
            ) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        received.append(json.loads(line.removeprefix("data: "))["id"])
                        first.set()
            # the stream ended (the server closed it)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(listen)
                await anyio.sleep(0.3)
                await send(client, "12345", "EU", "before")
                await first.wait()
                replacement = EU_KEY_LINE.replace("roles: [support]", "roles: [support, auditor]")
                revoke(config, replacement if change == "roles changed" else "")
                assert await live.reload(lambda: load_config(config, environ=ENV)) is not None
                await send(client, "12346", "EU", "after")
    assert received == ["before"]


async def test_an_mcp_session_stream_ends_when_its_key_is_removed(tmp_path: Path) -> None:
    config = write(tmp_path, config_text(f"sqlite:///{tmp_path / 'state.db'}"))
    heard: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            heard.append(message.params.uri)
            arrived.set()

    async with (
        served_live(config) as (client, live),
        mcp_http_client(
            str(client.base_url.join("/mcp")), SUPPORT_EU_KEY, mode="legacy", message_handler=on_message
        ) as mcp,
    ):
        await subscribe_legacy(mcp, EU_URI)
        await send(client, "EU-1", "EU", "u1")
        with anyio.fail_after(20):
            await arrived.wait()
        revoke(config)
        assert await live.reload(lambda: load_config(config, environ=ENV)) is not None
        await send(client, "EU-1", "EU", "u2")
        await anyio.sleep(1.5)
    assert heard == [EU_URI]  # the update after the key was removed never reached the session
