"""A job's runs are traces of their own, linked to the call that started them; the agent's
conversation id ties its calls together in the audit, the KPIs and the spans."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mcp_types import RequestParamsMeta
from sqlalchemy import select

from pasarela.state import open_state
from pasarela.state.tables import audit_records
from pasarela.telemetry.kpis import compute_kpis
from tests.helpers.gateway import ENV, READER_KEY, bearer, gateway_for, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.otlp import OtlpHttpReceiver
from tests.helpers.processes import serving
from tests.helpers.servers import free_port
from tests.helpers.upstream import RecordingUpstream
from tests.telemetry.test_tracing_rest import TRACE_ID, TRACEPARENT

pytestmark = pytest.mark.anyio

BACKENDS = "  jobs:\n    python: tests.jobs.job_tools\n"
JOBS = """tools:
  slow_report: {execution: optional}
jobs: {workers: 1, lease: 2s, poll_interval: 50ms}
access:
  reader: [slow_report, apply_once]
"""


def tracing(receiver: OtlpHttpReceiver) -> str:
    url = receiver.url  # type: ignore[attr-defined]
    return f"telemetry:\n  tracing: {{exporter: otlp_http, endpoint: '{url}/v1/traces', sampling: 1.0}}\n"


async def finished(client: httpx.AsyncClient, job_id: str) -> None:
    answer = await client.get(
        f"/v1/jobs/{job_id}/result", params={"wait": "15s"}, headers=bearer(READER_KEY), timeout=30
    )
    assert answer.status_code == 200, answer.text


async def audited(state: Path) -> list[dict[str, object]]:
    store = await open_state(f"sqlite:///{state}", state.parent)
    try:
        async with store.engine.connect() as db:
            rows = (await db.execute(select(audit_records).order_by(audit_records.c.seq))).all()
        return [dict(row._mapping) for row in rows]
    finally:
        await store.aclose()


async def test_a_job_run_is_its_own_trace_linked_to_the_start(
    tmp_path: Path, receiver: OtlpHttpReceiver
) -> None:
    extra = JOBS + tracing(receiver)
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, audit=True, extra=extra) as (
        client,
        runtime,
    ):
        started = await client.post(
            "/v1/tools/slow_report:start",
            json={"arguments": {"steps": 2, "pause": 0.01}},
            headers={**bearer(READER_KEY), "traceparent": TRACEPARENT},
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["job"]["id"]
        await finished(client, job_id)
        assert runtime.audit is not None
        await runtime.audit.flush()
    (start,) = [
        s for s in receiver.received.spans if s.trace_id == TRACE_ID and s.name.startswith("execute_tool")
    ]
    run = receiver.received.named("job slow_report")
    assert run.trace_id != TRACE_ID and run.parent_id == "", "a run is the root of a trace of its own"
    assert run.kind == "consumer"
    ((linked_trace, linked_span),) = run.links
    linked = next(s for s in receiver.received.spans if s.span_id == linked_span)
    assert linked_trace == TRACE_ID and start.name in receiver.received.path_to(linked), (
        "the run links back into the call that started it"
    )
    assert run.attributes["pasarela.job.attempt"] == 1
    in_run = [s for s in receiver.received.spans if s.trace_id == run.trace_id and s is not run]
    assert any(s.name == "execute_tool slow_report" for s in in_run), "the run's call is in the run's trace"
    records = await audited(tmp_path / "state.db")
    by_via = {record["via"]: record for record in records}
    assert by_via[None]["trace_id"] == TRACE_ID and by_via["job"]["trace_id"] == run.trace_id


async def test_with_tracing_off_a_run_carries_the_start_trace_id(tmp_path: Path) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, audit=True, extra=JOBS) as (
        client,
        runtime,
    ):
        started = await client.post(
            "/v1/tools/slow_report:start",
            json={"arguments": {"steps": 1, "pause": 0.01}},
            headers={**bearer(READER_KEY), "traceparent": TRACEPARENT},
        )
        job_id = started.json()["job"]["id"]
        await finished(client, job_id)
        assert runtime.audit is not None
        await runtime.audit.flush()
    records = await audited(tmp_path / "state.db")
    assert [(r["via"], r["trace_id"]) for r in records] == [(None, TRACE_ID), ("job", TRACE_ID)]


async def test_calls_of_one_conversation_are_counted_together(tmp_path: Path) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, audit=True, extra=JOBS) as (
        client,
        runtime,
    ):
        for conversation, amount in (("conv-1", 1), ("conv-1", 2), ("conv-2", 3), (None, 4)):
            headers = bearer(READER_KEY) | ({"X-Conversation-Id": conversation} if conversation else {})
            called = await client.post(
                "/v1/tools/apply_once:call", json={"arguments": {"amount": amount}}, headers=headers
            )
            assert called.status_code == 200, called.text
        called = await client.post(
            "/v1/tools/slow_report:call",
            json={"arguments": {"steps": 1, "pause": 0.0}},
            headers=bearer(READER_KEY) | {"X-Conversation-Id": "conv-1"},
        )
        assert called.status_code == 200, called.text
        assert runtime.audit is not None
        await runtime.audit.flush()
        records = await audited(tmp_path / "state.db")
        conversations = [r["conversation"] for r in records]
        assert conversations[0] == conversations[1] == conversations[4] != conversations[2]
        assert conversations[3] is None
        assert all("conv-" not in str(c) for c in conversations), "only a hash of the id is kept"
        assert runtime.state is not None
        figures = (await compute_kpis(runtime.state, 0.0)).agents["reader"]
    assert figures["conversations"] == 2
    assert figures["tool_calls_per_conversation"] == 2.0  # (3 + 1) / 2
    assert figures["distinct_tools_per_conversation"] == 1.5  # (2 + 1) / 2


async def test_an_oversized_conversation_id_is_ignored_not_refused(tmp_path: Path) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, audit=True, extra=JOBS) as (
        client,
        runtime,
    ):
        called = await client.post(
            "/v1/tools/apply_once:call",
            json={"arguments": {"amount": 1}},
            headers=bearer(READER_KEY) | {"X-Conversation-Id": "x" * 5000},
        )
        assert called.status_code == 200, called.text
        assert runtime.audit is not None
        await runtime.audit.flush()
    assert [r["conversation"] for r in await audited(tmp_path / "state.db")] == [None]


@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_mcp_calls_say_their_conversation_in_meta_or_a_header(
    tmp_path: Path, upstream: RecordingUpstream, mode: str
) -> None:
    port = free_port()
    state = f"state: sqlite:///{tmp_path / 'state.db'}\n"
    config = write_config(tmp_path, upstream.url, port=port, extra=state)  # type: ignore[attr-defined]
    with serving(config, port, ENV) as url:
        async with mcp_http_client(f"{url}/mcp", READER_KEY, mode=mode) as client:
            for item in ("1", "2"):
                meta = RequestParamsMeta(conversationId="support-ticket-881")  # type: ignore[typeddict-unknown-key]
                assert not (await client.call_tool("getItem", {"item_id": item}, meta=meta)).is_error
        headers = {"X-Conversation-Id": "support-ticket-881"}
        async with mcp_http_client(f"{url}/mcp", READER_KEY, mode=mode, headers=headers) as client:
            assert not (await client.call_tool("getItem", {"item_id": "3"})).is_error
        async with mcp_http_client(f"{url}/mcp", READER_KEY, mode=mode) as client:
            assert not (await client.call_tool("getItem", {"item_id": "4"})).is_error
    conversations = [r["conversation"] for r in await audited(tmp_path / "state.db")]
    assert conversations[0] == conversations[1] == conversations[2] is not None, (
        "the same conversation, whether in _meta or a header, across sessions"
    )
    assert conversations[3] is None
