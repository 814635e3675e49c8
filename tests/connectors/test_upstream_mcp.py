"""Upstream MCP servers behind the gateway: a real SDK server over Streamable HTTP and stdio."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.conftest import REPO
from tests.connectors import upstream_mcp_server
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, bearer, gateway_for
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import serving
from tests.helpers.servers import ThreadedServer, free_port

pytestmark = pytest.mark.anyio

UPSTREAM_TOKEN = "upstream-bearer-token-01"


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with ThreadedServer(upstream_mcp_server.app(UPSTREAM_TOKEN), lifespan=True) as server:
        yield f"{server.url}/mcp"


def http_backend(url: str, token: str = UPSTREAM_TOKEN) -> str:
    return f"""\
  crm_mcp:
    mcp: {url}
    auth: {{bearer: "{token}"}}
    prefix: crm_
"""


STDIO_BACKEND = f"""\
  crm_mcp:
    mcp: {{command: {sys.executable}, args: [-m, tests.connectors.upstream_mcp_server], cwd: {REPO}}}
    prefix: crm_
"""
ACCESS = "access:\n  reader: [crm_lookup_customer, crm_add, crm_fail, crm_refuse]\n"


async def call(
    client: httpx.AsyncClient, tool: str, arguments: dict[str, object], key: str = READER_KEY
) -> httpx.Response:
    return await client.post(f"/v1/tools/{tool}:call", json={"arguments": arguments}, headers=bearer(key))


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_upstream_tools_are_federated_with_a_prefix(
    tmp_path: Path, upstream_url: str, transport: str
) -> None:
    backends = http_backend(upstream_url) if transport == "http" else STDIO_BACKEND
    async with gateway_for(tmp_path, "http://127.0.0.1:1", backends=backends, extra=ACCESS) as (
        client,
        runtime,
    ):
        listed = {
            t["name"]: t for t in (await client.get("/v1/tools", headers=bearer(READER_KEY))).json()["tools"]
        }
        assert {"crm_lookup_customer", "crm_add", "crm_fail"} <= set(listed)
        assert listed["crm_lookup_customer"]["annotations"]["readOnlyHint"] is True
        assert listed["crm_add"]["inputSchema"]["required"] == ["a", "b"]

        found = await call(client, "crm_lookup_customer", {"customer_id": "12345"})
        assert found.status_code == 200, found.text
        assert found.json()["result"] == {"customer_id": "12345", "name": "John Doe"}
        assert found.json()["meta"]["source"] == "crm_mcp"
        assert (await call(client, "crm_add", {"a": 2, "b": 3})).json()["result"] == {"result": 5}
        # The gateway validates against the upstream's own schema before it is asked.
        assert (await call(client, "crm_add", {"a": "two"})).status_code == 422
        failed = await call(client, "crm_fail", {})
        assert failed.status_code == 502
        assert failed.json()["type"] == "urn:pasarela:problem:upstream_error"
        assert runtime.gateway.catalog.get("crm_add").backend == "crm_mcp"


async def test_the_upstream_credential_is_the_gateways_own(tmp_path: Path, upstream_url: str) -> None:
    from pasarela.errors import ConfigError

    with pytest.raises(ConfigError, match=r"backends\.crm_mcp\.mcp: cannot list the upstream server's tools"):
        async with gateway_for(
            tmp_path, "http://127.0.0.1:1", backends=http_backend(upstream_url, "wrong-token-000001")
        ):
            pass


async def test_a_lost_session_is_re_established(tmp_path: Path, upstream_url: str) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:1", backends=STDIO_BACKEND, extra=ACCESS) as (
        client,
        runtime,
    ):
        assert (await call(client, "crm_add", {"a": 1, "b": 1})).status_code == 200
        connector = runtime.gateway.connectors["crm_mcp"]
        session = connector._session  # type: ignore[attr-defined]
        await session.close()  # the upstream went away (e.g. the subprocess exited)
        again = await call(client, "crm_add", {"a": 2, "b": 2})
        assert again.status_code == 200, again.text
        assert again.json()["result"] == {"result": 4}


async def test_a_refusal_is_an_upstream_error_not_a_broken_session(tmp_path: Path, upstream_url: str) -> None:
    breaker = "    circuit_breaker: {min_calls: 3, failure_ratio: 0.5, min_principals: 1}\n"
    async with gateway_for(
        tmp_path, "http://127.0.0.1:1", backends=http_backend(upstream_url) + breaker, extra=ACCESS
    ) as (client, runtime):
        assert (await call(client, "crm_add", {"a": 1, "b": 1})).status_code == 200
        session = runtime.gateway.connectors["crm_mcp"]._session  # type: ignore[attr-defined]
        for _ in range(6):
            refused = await call(client, "crm_refuse", {"account": "ACC-9"})
            assert refused.status_code == 502, refused.text
            problem = refused.json()
            assert (problem["code"], problem["upstream_code"]) == ("upstream_error", -32602)
            assert "no account ACC-9" in problem["detail"]
        assert runtime.gateway.connectors["crm_mcp"]._session is session, "no reconnect"  # type: ignore[attr-defined]
        after = await call(client, "crm_add", {"a": 2, "b": 2})
        assert after.status_code == 200, "refusals did not open the breaker"


async def test_federated_tools_through_the_mcp_door(tmp_path: Path, upstream_url: str) -> None:
    from tests.helpers.gateway import write_config

    port = free_port()
    config = write_config(
        tmp_path, "http://127.0.0.1:1", port=port, backends=http_backend(upstream_url), extra=ACCESS
    )
    with serving(config, port, ENV) as url:
        async with mcp_http_client(f"{url}/mcp", READER_KEY) as mcp:
            names = [t.name for t in (await mcp.list_tools()).tools]
            assert "crm_lookup_customer" in names
            result = await mcp.call_tool("crm_lookup_customer", {"customer_id": "7"})
            assert not result.is_error and result.structured_content == {
                "customer_id": "7",
                "name": "John Doe",
            }
        async with mcp_http_client(f"{url}/mcp", WRITER_KEY) as mcp:
            # Policy applies to federated tools like any other: ACCESS grants the writer nothing.
            assert "crm_add" not in [t.name for t in (await mcp.list_tools()).tools]
            denied = await mcp.call_tool("crm_add", {"a": 1, "b": 2})
            assert denied.is_error and '"code":"denied"' in denied.content[0].text  # type: ignore[union-attr]


async def test_an_upstream_tools_progress_reaches_its_job(tmp_path: Path, upstream_url: str) -> None:
    extra = "jobs: {workers: 1, poll_interval: 50ms}\naccess:\n  reader: [crm_export]\n"
    async with gateway_for(
        tmp_path, "http://127.0.0.1:1", backends=http_backend(upstream_url), extra=extra
    ) as (
        client,
        _,
    ):
        started = await client.post(
            "/v1/tools/crm_export:start", json={"arguments": {"steps": 6}}, headers=bearer(READER_KEY)
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["job"]["id"]
        messages: set[str] = set()
        with anyio.fail_after(15):
            while (job := (await client.get(f"/v1/jobs/{job_id}", headers=bearer(READER_KEY))).json()["job"])[
                "status"
            ] != "completed":
                if "progress" in job:
                    messages.add(job["progress"]["message"])
                    assert 0 <= job["progress"]["fraction"] < 1
                await anyio.sleep(0.05)
    assert any(m.startswith("exported part ") for m in messages), messages
    assert job["result"] == {"parts": 6}


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_the_trace_context_reaches_the_upstream_server_in_meta(
    tmp_path: Path, upstream_url: str, transport: str
) -> None:
    backends = http_backend(upstream_url) if transport == "http" else STDIO_BACKEND
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    access = ACCESS.replace("crm_refuse]", "crm_refuse, crm_trace_context]")
    async with gateway_for(tmp_path, "http://127.0.0.1:1", backends=backends, extra=access) as (client, _):
        answer = await client.post(
            "/v1/tools/crm_trace_context:call",
            json={"arguments": {}},
            headers={**bearer(READER_KEY), "traceparent": traceparent, "tracestate": "agent=1"},
        )
    assert answer.status_code == 200, answer.text
    # Tracing is off: the agent's context is passed on unchanged (with it on, the backend span's).
    assert answer.json()["result"] == {"traceparent": traceparent, "tracestate": "agent=1"}
