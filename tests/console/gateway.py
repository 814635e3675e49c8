"""A gateway with the console: an admin (ops), agents without the role, an upstream, a Python backend."""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx

from pasarela.assembly import build_runtime
from pasarela.config import load_config
from pasarela.server import create_app
from tests.conftest import FIXTURES
from tests.helpers.gateway import sha

ADMIN_KEY = "ops-admin-key-0000000000001"
READER_KEY = "reader-key-0000000000000001"
SUPPORT_KEY = "support-bot-key-000000000001"
WRITER_KEY = "writer-key-0000000000000002"
BACKEND_TOKEN = "backend-token-s3cr3t-value-9"
AUDIT_KEY = "audit-checkpoint-key-0000000000000001"
SESSION_KEY = "console-session-key-000000000000000000001"
ENV = {
    "TEST_SECRET_WRITER_KEY": WRITER_KEY,
    "TEST_SECRET_ITEMS_TOKEN": BACKEND_TOKEN,
    "TEST_SECRET_AUDIT_KEY": AUDIT_KEY,
    "TEST_SECRET_SESSION_KEY": SESSION_KEY,
}
SECRETS = (ADMIN_KEY, READER_KEY, SUPPORT_KEY, WRITER_KEY, BACKEND_TOKEN, AUDIT_KEY, SESSION_KEY)


def console_config(directory: Path, upstream_url: str, *, extra: str = "") -> Path:
    """The items description is copied beside the config, so a test can change what it serves."""
    spec = directory / "items.yaml"
    if not spec.exists():
        shutil.copy(FIXTURES / "openapi" / "items.yaml", spec)
    path = directory / "pasarela.yaml"
    path.write_text(
        f"""\
version: 1
state: sqlite:///{directory / "state.db"}
secrets: [{{env: {{prefix: TEST_SECRET_}}}}]
identity:
  api_keys:
    - {{principal: reader, key_sha256: "{sha(READER_KEY)}", roles: [reader], attributes: {{region: EU}}}}
    - {{principal: writer, key: "${{secret:WRITER_KEY}}", roles: [writer]}}
    - {{principal: support-bot, key_sha256: "{sha(SUPPORT_KEY)}", roles: [customer_support]}}
    - {{principal: ops, key_sha256: "{sha(ADMIN_KEY)}", roles: [admin]}}
backends:
  items:
    openapi: {spec}
    base_url: {upstream_url}
    auth: {{bearer: "${{secret:ITEMS_TOKEN}}"}}
    timeout: 2s
    cost: {{per_call: 0.25, currency: EUR}}
    slo: {{availability: 99.5, window: 7d}}
  py:
    python: tests.connectors.sample_tools
tools:
  getItem:
    cache: {{ttl: 5m}}
access:
  reader: [getItem, searchItems, greet]
  customer_support: [getItem]
  writer: ["*"]
policies: |
  forbid(principal, action, resource == Tool::"greet")
  when {{ context.args has name && context.args.name == "mallory" }};
audit: {{checkpoint_key: "${{secret:AUDIT_KEY}}", flush_interval: 0.05}}
logging: {{level: warning, format: json}}
{extra}"""
    )
    return path


def edit_description(directory: Path) -> None:
    """The backend now describes getItem differently: a rug pull, quarantined until approved."""
    spec = directory / "items.yaml"
    spec.write_text(spec.read_text().replace("summary: Get one item", "summary: Get one item (and more)"))


@asynccontextmanager
async def console_app(
    config: Path, *, base_url: str = "http://127.0.0.1:8080"
) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app, lifespan included, with a reload that reads `config` again (as SIGHUP does)."""
    loader = functools.partial(load_config, config, environ=ENV)
    runtime = await build_runtime(loader())
    app = create_app(runtime, reload=loader)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base_url) as client,
    ):
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, key: str = ADMIN_KEY) -> httpx.Response:
    """The login form, then the login: the session cookie stays in the client's jar."""
    form = await client.get("/admin/login")
    return await client.post("/admin/login", data={"csrf": csrf_of(form.text), "api_key": key})


async def audit_rows(client: httpx.AsyncClient, query: str, cell: str, at_least: int = 1) -> str:
    """The audit page for `query` once it shows `cell` (a table cell) `at_least` times: the
    console's records are queued and written a moment later, as calls' are."""
    for _ in range(100):
        page = await client.get(f"/admin/audit?{query}&limit=500&search=1", headers=bearer(ADMIN_KEY))
        if page.text.count(f"<td>{cell}</td>") >= at_least:
            return page.text
        await anyio.sleep(0.05)
    raise AssertionError(f"the audit never showed {cell!r} {at_least} time(s) for {query}")
