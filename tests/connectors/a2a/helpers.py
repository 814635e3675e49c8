"""The gateway configuration for a Desk agent, and calls through the REST door."""

from __future__ import annotations

from typing import Any

import httpx

from tests.connectors.a2a.desk_agent import DeskAgent
from tests.helpers.gateway import READER_KEY, bearer

ACCESS = "access:\n  reader: ['*']\n  writer: ['*']\n"
NOWHERE = "http://127.0.0.1:1"  # the items backend of the test configuration is never called
TOOL = "ask_desk"


def backend(
    agent: DeskAgent | str,
    extra: str = "",
    *,
    token: str | None = "${secret:ITEMS_TOKEN}",  # noqa: S107 - a reference, not a secret
    name: str = "desk",
) -> str:
    """An `a2a:` backend named `name` (its token the secret the Desk accepts); `extra` is YAML
    indented to four spaces."""
    where = agent if isinstance(agent, str) else agent.url
    auth = f'    auth: {{bearer: "{token}"}}\n' if token else ""
    return f"  {name}:\n    a2a: {where}\n{auth}    timeout: 5s\n    retry: {{attempts: 1}}\n{extra}"


async def ask(
    client: httpx.AsyncClient,
    arguments: dict[str, Any],
    key: str = READER_KEY,
    tool: str = TOOL,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        f"/v1/tools/{tool}:call", json={"arguments": arguments}, headers={**bearer(key), **(headers or {})}
    )
