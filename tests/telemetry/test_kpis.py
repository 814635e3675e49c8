"""KPIs computed from the durable audit trail (SQLite and PostgreSQL), and the `pasarela kpis` command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest

from pasarela.telemetry.kpis import compute_kpis, percentile, server_error, summarize
from tests.helpers.gateway import ENV, NOBODY_KEY, READER_KEY, bearer, gateway_for
from tests.helpers.processes import run_pasarela
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen, echo

pytestmark = pytest.mark.anyio


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    def behaviour(seen: Seen) -> Reply:
        return Reply(500, {"error": "down"}) if seen.raw_path == "/items/broken" else echo(seen)

    recorder = RecordingUpstream(behaviour)
    with ThreadedServer(recorder) as server:
        recorder.url = server.url  # type: ignore[attr-defined]
        yield recorder


def test_outcomes_are_classed_by_their_status() -> None:
    assert not server_error("ok") and not server_error("denied") and not server_error("rate_limited")
    assert not server_error("budget_exceeded") and not server_error("cancelled")
    assert server_error("upstream_error") and server_error("circuit_open") and server_error("internal")
    assert server_error("something_new"), "an unknown code counts against the gateway"
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.99) == 4.0
    assert percentile([], 0.5) is None


async def test_kpis_per_backend_tool_and_agent_come_from_the_audit_trail(
    tmp_path: Path, upstream: RecordingUpstream, state_url: str
) -> None:
    cached = "tools:\n  getItem: {cache: {ttl: 1m}}\n"
    url: str = upstream.url  # type: ignore[attr-defined]
    async with gateway_for(tmp_path, url, state=state_url, audit=True, extra=cached) as (client, runtime):
        call = "/v1/tools/getItem:call"
        for item in ("1", "1", "1", "2", "broken"):  # 3 from the backend, 2 from the cache, 1 failure
            await client.post(call, json={"arguments": {"item_id": item}}, headers=bearer(READER_KEY))
        await client.post(
            "/v1/tools/greet:call", json={"arguments": {"name": "A"}}, headers=bearer(READER_KEY)
        )
        await client.post("/v1/tools/greet:call", json={"arguments": {}}, headers=bearer(READER_KEY))  # 422
        await client.post(call, json={"arguments": {"item_id": "1"}}, headers=bearer(NOBODY_KEY))  # 403
        assert runtime.audit is not None
        await runtime.audit.flush()
        report = await compute_kpis(runtime.state, since=0)
    assert report.records == 8
    items = report.backends["items"]
    assert (items["calls"], items["ok"], items["server_errors"], items["client_errors"]) == (6, 4, 1, 1)
    assert items["availability"] == pytest.approx(4 / 5, abs=1e-6), (
        "the denied call is not the backend's failure"
    )
    assert items["error_rate"] == pytest.approx(1 / 6, abs=1e-6)
    # Hits among answered lookups: 2 hits, misses for "1" and "2" (the failure and the refusal answer nothing).
    assert items["cache_hit_rate"] == pytest.approx(2 / 4, abs=1e-6)
    latency = items["latency_ms"]
    assert latency["p50"] is not None and latency["p50"] <= latency["p95"] <= latency["p99"]
    assert report.tools["greet"]["backend"] == "py"
    assert (report.tools["greet"]["calls"], report.tools["greet"]["availability"]) == (2, 1.0)
    reader = report.agents["reader"]
    assert (reader["calls"], reader["ok"]) == (7, 5)
    assert reader["success_rate"] == pytest.approx(5 / 7, abs=1e-6)
    assert report.agents["nobody"]["success_rate"] == 0.0
    assert report.as_json()["backends"]["items"] == items


async def test_tools_per_mcp_session_count_the_agents_own_calls() -> None:
    def row(tool: str, session: str | None, parent: str | None = None, door: str = "mcp") -> SimpleNamespace:
        return SimpleNamespace(
            principal="bot",
            tool=tool,
            backend="crm",
            outcome="ok",
            latency_ms=5.0,
            cache=None,
            parent_id=parent,
            session=session,
            conversation=None,
            door=door,
        )

    rows = [
        row("a", "s1"),
        row("b", "s1"),
        row("a", "s1"),
        row("step", "s1", parent="r1"),  # made on the agent's behalf: not the agent's own
        row("a", "s2"),
        row("c", None, door="rest"),
    ]
    agent = summarize(rows, 0, None).agents["bot"]
    assert (agent["calls"], agent["mcp_sessions"]) == (5, 2)
    assert agent["tool_calls_per_session"] == 2.0  # (3 + 1) / 2
    assert agent["distinct_tools_per_session"] == 1.5  # ({a, b} + {a}) / 2


async def test_the_kpis_command_prints_json_and_a_table(tmp_path: Path, upstream: RecordingUpstream) -> None:
    async with gateway_for(tmp_path, upstream.url, audit=True) as (client, runtime):  # type: ignore[attr-defined]
        await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
        )
        assert runtime.audit is not None
        await runtime.audit.flush()
    config = str(tmp_path / "pasarela.yaml")
    printed = run_pasarela("kpis", "--since", "1h", "--json", "-c", config, env=ENV)
    assert printed.returncode == 0, printed.stderr
    report = orjson.loads(printed.stdout)
    assert report["records"] == 1 and report["backends"]["items"]["availability"] == 1.0
    table = run_pasarela("kpis", "-c", config, env=ENV)
    assert table.returncode == 0 and "items" in table.stdout and "100.00%" in table.stdout
    wrong = run_pasarela("kpis", "--since", "yesterday", "-c", config, env=ENV)
    assert wrong.returncode == 2 and "--since: expected a duration" in wrong.stderr
