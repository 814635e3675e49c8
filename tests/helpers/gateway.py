"""A gateway configuration over a recording upstream and the sample Python tools."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from pasarela.assembly import Runtime, build_runtime
from pasarela.config import load_config
from pasarela.server import create_app
from tests.conftest import FIXTURES

READER_KEY = "reader-key-0000001"
WRITER_KEY = "writer-key-0000002"
NOBODY_KEY = "nobody-key-0000003"
BACKEND_TOKEN = "backend-token-s3cr3t-value"
ENV = {"TEST_SECRET_WRITER_KEY": WRITER_KEY, "TEST_SECRET_ITEMS_TOKEN": BACKEND_TOKEN}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_config(
    directory: Path,
    upstream_url: str,
    *,
    port: int = 8080,
    extra: str = "",
    identity: str = "",
    items: str = "",
    backends: str = "",
) -> Path:
    """`identity` is YAML added under `identity:` (indented by the caller to two spaces);
    `items` is added to the `items` backend (indented to four), `backends` under `backends:` (two)."""
    path = directory / "pasarela.yaml"
    access = _access_unless_given(extra)
    timeout = "" if "    timeout:" in items else "    timeout: 2s\n"  # `items` may set its own
    path.write_text(
        f"""\
version: 1
server: {{host: 127.0.0.1, port: {port}}}
secrets: [{{env: {{prefix: TEST_SECRET_}}}}]
identity:
  api_keys:
    - {{principal: reader, key_sha256: "{sha(READER_KEY)}", roles: [reader], attributes: {{region: EU}}}}
    - {{principal: writer, key: "${{secret:WRITER_KEY}}", roles: [writer]}}
    - {{principal: nobody, key_sha256: "{sha(NOBODY_KEY)}", roles: []}}
{identity}backends:
  items:
    openapi: {FIXTURES / "openapi" / "items.yaml"}
    base_url: {upstream_url}
    auth: {{bearer: "${{secret:ITEMS_TOKEN}}"}}
{timeout}{items}  py:
    python: tests.connectors.sample_tools
{backends}{access}logging: {{level: info, format: json}}
{extra}"""
    )
    return path


DEFAULT_ACCESS = """access:
  reader: [getItem, searchItems, greet, explode]
  writer: ["*"]
"""


def _access_unless_given(extra: str) -> str:
    """The default grants, unless `extra` declares its own `access:` (a key may be given once)."""
    return "" if re.search(r"^access:", extra, re.MULTILINE) else DEFAULT_ACCESS


@asynccontextmanager
async def in_process(config: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The whole ASGI app, lifespan included, behind an httpx client."""
    runtime = await build_runtime(load_config(config, environ=ENV))
    app = create_app(runtime)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8080") as client,
    ):
        yield client, runtime


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def gateway_for(
    directory: Path,
    upstream_url: str,
    *,
    state: str | None = None,
    shared: str = "memory://",
    audit: bool = False,
    extra: str = "",
    identity: str = "",
    items: str = "",
    backends: str = "",
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """`in_process` over `write_config`, with its own state store (SQLite in `directory` by default)."""
    state_url = state or f"sqlite:///{directory / 'state.db'}"
    head = f"state: {state_url}\nshared: {shared}\n" + ("" if audit else "audit: {enabled: false}\n")
    config = write_config(
        directory, upstream_url, extra=head + extra, identity=identity, items=items, backends=backends
    )
    async with in_process(config) as pair:
        yield pair
