"""The gateway configuration for a Lab server, and calls through the REST door."""

from __future__ import annotations

from typing import Any

import httpx

from tests.connectors.grpc.lab_server import LabServer
from tests.helpers.gateway import READER_KEY, bearer

ACCESS = "access:\n  reader: ['*']\n  writer: ['*']\n"
NOWHERE = "http://127.0.0.1:1"  # the items backend of the test configuration is never called


def backend(
    lab: LabServer | str,
    extra: str = "",
    *,
    token: str | None = "${secret:ITEMS_TOKEN}",  # noqa: S107 - a reference, not a secret
    name: str = "lab",
) -> str:
    """A `grpc:` backend named `name` (its token the secret the Lab accepts); `extra` is YAML
    indented to four spaces."""
    target = lab if isinstance(lab, str) else lab.target
    auth = f'    auth: {{bearer: "{token}"}}\n' if token else ""
    return f"  {name}:\n    grpc: {target}\n{auth}    timeout: 5s\n{extra}"


async def call(
    client: httpx.AsyncClient, tool: str, arguments: dict[str, Any], key: str = READER_KEY
) -> httpx.Response:
    return await client.post(f"/v1/tools/{tool}:call", json={"arguments": arguments}, headers=bearer(key))
