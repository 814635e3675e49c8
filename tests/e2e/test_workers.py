"""`pasarela serve` with two worker processes on one port (issue 10, section 6).

Every request below opens a fresh connection, so the kernel (SO_REUSEPORT) spreads them over
both workers: whichever worker gets a request, it must be served as one process would.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import _reset_redis, need_service
from tests.helpers.gateway import ENV, READER_KEY, bearer, sha, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import Served, run_pasarela, served
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream, echo

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

FRESH = 30  # fresh connections per check: all on one worker by chance is 2 ** -29
LEGACY = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
LATE_KEY = "late-key-000000000001"


def two_workers(directory: Path, upstream_url: str, port: int, shared: str) -> Path:
    config = write_config(directory, upstream_url, port=port, extra=f"shared: {shared}\n")
    text = config.read_text().replace(
        f"server: {{host: 127.0.0.1, port: {port}}}", f"server: {{host: 127.0.0.1, port: {port}, workers: 2}}"
    )
    config.write_text(text)
    return config


@pytest.fixture
def own_redis(redis_url: str) -> str:
    """A Redis database of these tests' own: other suites running at once trip breakers in theirs."""
    url = redis_url.rsplit("/", 1)[0] + "/13"
    need_service(anyio.run(_reset_redis, url))
    return url


@pytest.fixture
def gateway(tmp_path: Path, own_redis: str) -> Iterator[tuple[Served, Path]]:
    with ThreadedServer(RecordingUpstream(echo)) as upstream:
        port = free_port()
        config = two_workers(tmp_path, upstream.url, port, own_redis)
        with served(config, port, ENV) as handle:
            wait_for_all(handle)
            yield handle, config


def wait_for_all(handle: Served) -> None:
    """/readyz answers once the first worker is up; the others start after it, one by one."""
    deadline = time.monotonic() + 60
    while '"workers_ready"' not in handle.output():
        assert time.monotonic() < deadline, handle.output()
        time.sleep(0.1)


def fresh_post(url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(timeout=20) as client:  # a new connection: any worker may take it
        return client.post(url, json=body, headers=headers)


def fresh_status(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    try:
        return fresh_post(url, body, headers).status_code
    except httpx.TransportError:
        return 0


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_official_client_on_every_worker(gateway: tuple[Served, Path], mode: str) -> None:
    handle, _ = gateway
    for _ in range(8):  # each client has its own connections
        async with mcp_http_client(f"{handle.url}/mcp", READER_KEY, mode=mode) as client:
            for _ in range(4):
                result = await client.call_tool("getItem", {"item_id": "7"})
                assert not result.is_error, result.content


def test_a_session_is_served_whichever_worker_gets_its_requests(gateway: tuple[Served, Path]) -> None:
    handle, _ = gateway
    headers = {**bearer(READER_KEY), **LEGACY}
    opened = fresh_post(f"{handle.url}/mcp", INITIALIZE, headers)
    assert opened.status_code == 200
    session = opened.headers["mcp-session-id"]
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "getItem", "arguments": {"item_id": "7"}},
    }
    answers = [
        fresh_post(f"{handle.url}/mcp", call, {**headers, "Mcp-Session-Id": session}) for _ in range(FRESH)
    ]
    assert [a.status_code for a in answers] == [200] * FRESH
    assert all('"isError":false' in a.text.replace(" ", "") for a in answers)
    assert metric(handle.url, "pasarela_mcp_forwarded_requests_total") > 0  # the other worker passed some on

    # Another principal cannot use it, on any worker; once deleted it is gone everywhere.
    stolen = [
        fresh_post(
            f"{handle.url}/mcp", call, {**bearer("writer-key-0000002"), **LEGACY, "Mcp-Session-Id": session}
        )
        for _ in range(6)
    ]
    assert {a.status_code for a in stolen} == {404}
    with httpx.Client(timeout=20) as client:
        assert (
            client.delete(f"{handle.url}/mcp", headers={**headers, "Mcp-Session-Id": session}).status_code
            == 200
        )
    gone = [fresh_post(f"{handle.url}/mcp", call, {**headers, "Mcp-Session-Id": session}) for _ in range(6)]
    assert {a.status_code for a in gone} == {404}
    forged = fresh_post(f"{handle.url}/mcp", call, {**headers, "Mcp-Session-Id": "7-" + "0" * 32})
    assert forged.status_code == 404


def test_metrics_and_audit_span_the_workers(gateway: tuple[Served, Path]) -> None:
    handle, config = gateway
    body = {"arguments": {"item_id": "7"}}
    for _ in range(FRESH):
        assert fresh_post(f"{handle.url}/v1/tools/getItem:call", body, bearer(READER_KEY)).status_code == 200
    # Whichever worker answers /metrics, it counts every worker's calls.
    counts = {metric(handle.url, 'pasarela_tool_calls_total{backend="items",door="rest"') for _ in range(6)}
    assert counts == {float(FRESH)}
    # Both workers append to one hash chain (the head row is locked per batch): it verifies.
    deadline = time.monotonic() + 20
    while True:  # the writers commit in batches: wait for the last one
        verified = run_pasarela("audit", "verify", "-c", str(config), env=ENV)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        if f"OK — {FRESH} record(s), chain intact" in verified.stderr:
            break
        assert time.monotonic() < deadline, verified.stderr
        time.sleep(0.5)


def test_sighup_reaches_every_worker(gateway: tuple[Served, Path]) -> None:
    handle, config = gateway
    body = {"arguments": {"item_id": "7"}}
    late = bearer(LATE_KEY)
    assert fresh_post(f"{handle.url}/v1/tools/getItem:call", body, late).status_code == 401
    text = config.read_text().replace(
        "  api_keys:\n",
        f'  api_keys:\n    - {{principal: late, key_sha256: "{sha(LATE_KEY)}", roles: [reader]}}\n',
    )
    config.write_text(text)
    handle.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while True:  # until both workers have reloaded: then every connection takes the new key
        statuses = [
            fresh_post(f"{handle.url}/v1/tools/getItem:call", body, late).status_code for _ in range(FRESH)
        ]
        if statuses == [200] * FRESH:
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.5)


def test_a_worker_that_dies_is_replaced(gateway: tuple[Served, Path]) -> None:
    handle, _ = gateway
    pid = handle.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    workers = [c for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
    assert len(workers) == 2
    os.kill(int(workers[0]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    body = {"arguments": {"item_id": "7"}}
    while True:  # connections that reached the dead worker fail until its replacement listens
        statuses = [
            fresh_status(f"{handle.url}/v1/tools/getItem:call", body, bearer(READER_KEY))
            for _ in range(FRESH)
        ]
        if statuses == [200] * FRESH:
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.5)
    assert "worker_died" in handle.output()


def test_memory_shared_state_is_refused(tmp_path: Path) -> None:
    config = two_workers(tmp_path, "http://127.0.0.1:9", free_port(), "memory://")
    refused = run_pasarela("serve", "-c", str(config), env=ENV)
    assert refused.returncode == 1
    assert "server.workers is 2, but shared is memory://" in refused.stderr
    assert "redis://" in refused.stderr
    # The same for the command-line override of a one-worker configuration.
    (tmp_path / "one").mkdir()
    one = write_config(tmp_path / "one", "http://127.0.0.1:9")
    refused = run_pasarela("serve", "-c", str(one), "--workers", "3", env=ENV)
    assert refused.returncode == 1
    assert "server.workers is 3" in refused.stderr
