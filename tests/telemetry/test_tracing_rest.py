"""Traces of REST calls, exported over OTLP/HTTP to a real receiver and decoded from protobuf."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from pasarela.state import open_state
from pasarela.state.tables import audit_records
from pasarela.telemetry import configure_logging
from tests.helpers.gateway import BACKEND_TOKEN, READER_KEY, bearer, gateway_for
from tests.helpers.otlp import OtlpHttpReceiver, ReceivedSpan
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
AGENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{AGENT_SPAN}-01"
SECRET_ARGUMENT = "item-7f3a9c-private"  # an argument value: it must appear in no attribute


def tracing(receiver: OtlpHttpReceiver, sampling: float = 1.0) -> str:
    url = receiver.url  # type: ignore[attr-defined]
    return (
        "telemetry:\n  tracing:\n    exporter: otlp_http\n"
        f"    endpoint: {url}/v1/traces\n    sampling: {sampling}\n"
        '    headers: {x-collector-token: "${secret:ITEMS_TOKEN}"}\n'
    )


def no_secrets_in(spans: list[ReceivedSpan]) -> None:
    for span in spans:
        for key, value in span.attributes.items():
            text = f"{key}={value}".lower()
            for secret in (READER_KEY, BACKEND_TOKEN, SECRET_ARGUMENT, "bearer", "authorization"):
                assert secret.lower() not in text, f"{span.name}: {key} holds {secret!r}"


async def test_a_rest_call_is_one_trace_from_the_door_to_the_backend(
    tmp_path: Path, upstream: RecordingUpstream, receiver: OtlpHttpReceiver
) -> None:
    async with gateway_for(tmp_path, upstream.url, audit=True, extra=tracing(receiver)) as (client, runtime):  # type: ignore[attr-defined]
        answer = await client.post(
            f"/v1/tools/getItem:call?note={SECRET_ARGUMENT}",
            json={"arguments": {"item_id": SECRET_ARGUMENT}},
            headers={**bearer(READER_KEY), "traceparent": TRACEPARENT, "tracestate": "agent=1"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["meta"]["trace_id"] == TRACE_ID, "the agent's trace id is kept"
        assert runtime.audit is not None
        await runtime.audit.flush()
    spans = receiver.received.spans
    assert {s.trace_id for s in spans} == {TRACE_ID}, "every span joins the agent's trace"
    server = receiver.received.named("POST /v1/tools/{name}:call")
    assert (server.kind, server.parent_id) == ("server", AGENT_SPAN)
    assert server.attributes["http.route"] == "/v1/tools/{name}:call"
    assert server.attributes["http.response.status_code"] == 200
    backend = receiver.received.named("GET /items/{item_id}")
    assert backend.kind == "client"
    assert backend.attributes["url.template"] == "/items/{item_id}"
    assert backend.attributes["http.response.status_code"] == 200
    assert backend.attributes["server.address"] == "127.0.0.1"
    path = receiver.received.path_to(backend)
    assert path[:2] == ["POST /v1/tools/{name}:call", "execute_tool getItem"]
    assert path[-2:] == ["attempt", "GET /items/{item_id}"]
    stages = [name.removeprefix("stage ") for name in path if name.startswith("stage ")]
    # Stages that only pass this call on (no idempotency key, no masking, no result rule) get no span.
    assert stages == ["audit", "authorize", "validate", "resilience"]
    call = receiver.received.named("execute_tool getItem")
    assert call.attributes["gen_ai.tool.name"] == "getItem"
    assert call.attributes["gen_ai.operation.name"] == "execute_tool"
    assert call.attributes["pasarela.backend"] == "items"
    assert call.resource["service.name"] == "pasarela"
    # The backend received the trace context of its own span, and the agent's tracestate.
    sent = upstream.seen[-1].headers
    assert sent["traceparent"] == f"00-{TRACE_ID}-{backend.span_id}-01"
    assert sent["tracestate"] == "agent=1"
    no_secrets_in(spans)
    assert receiver.received.headers[0]["x-collector-token"] == BACKEND_TOKEN, "export headers from secrets"
    store = await open_state(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    async with store.engine.connect() as db:
        row = (await db.execute(select(audit_records))).one()
    await store.aclose()
    assert (row.trace_id, row.backend) == (TRACE_ID, "items")


async def test_a_refused_call_is_traced_with_its_problem_code_and_the_trace_id(
    tmp_path: Path, upstream: RecordingUpstream, receiver: OtlpHttpReceiver
) -> None:
    async with gateway_for(tmp_path, upstream.url, extra=tracing(receiver)) as (client, _):  # type: ignore[attr-defined]
        answer = await client.post(
            "/v1/tools/getItem:call",
            json={"arguments": {"item_id": 7}},  # the schema wants a string
            headers={**bearer(READER_KEY), "traceparent": TRACEPARENT},
        )
        assert answer.status_code == 422
        assert answer.json()["trace_id"] == TRACE_ID, "problem documents name the trace too"
    call = receiver.received.named("execute_tool getItem")
    assert call.attributes["error.type"] == "invalid_arguments"
    assert call.status == 0, "a client error is not the gateway's failure"
    assert not upstream.seen


async def test_without_a_traceparent_each_call_starts_a_trace_and_sampling_applies(
    tmp_path: Path, upstream: RecordingUpstream, receiver: OtlpHttpReceiver
) -> None:
    async with gateway_for(tmp_path, upstream.url, extra=tracing(receiver, sampling=0.0)) as (client, _):  # type: ignore[attr-defined]
        answer = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
        )
        followed = await client.post(
            "/v1/tools/getItem:call",
            json={"arguments": {"item_id": "2"}},
            headers={**bearer(READER_KEY), "traceparent": TRACEPARENT},
        )
    trace_id = answer.json()["meta"]["trace_id"]
    assert len(trace_id) == 32 and trace_id != TRACE_ID
    unsampled = upstream.seen[0].headers["traceparent"]
    assert unsampled.startswith(f"00-{trace_id}-")
    assert int(unsampled.rsplit("-", 1)[1], 16) & 1 == 0, "the backend is told it is not sampled"
    assert followed.json()["meta"]["trace_id"] == TRACE_ID
    # The agent sampled its trace: the gateway follows its decision (parent-based), whatever the ratio.
    assert {s.trace_id for s in receiver.received.spans} == {TRACE_ID}


async def test_with_tracing_off_the_agents_context_passes_through_and_its_trace_id_is_kept(
    tmp_path: Path, upstream: RecordingUpstream
) -> None:
    lines = io.StringIO()
    async with gateway_for(tmp_path, upstream.url) as (client, runtime):  # type: ignore[attr-defined]
        configure_logging(runtime.config.redactor, stream=lines)
        assert runtime.tracing is None and runtime.gateway.tracer is None
        answer = await client.post(
            "/v1/tools/getItem:call",
            json={"arguments": {"item_id": "1"}},
            headers={**bearer(READER_KEY), "traceparent": TRACEPARENT, "tracestate": "agent=1"},
        )
        plain = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "2"}}, headers=bearer(READER_KEY)
        )
        broken = await client.post(
            "/v1/tools/getItem:call",
            json={"arguments": {"item_id": "3"}},
            headers={**bearer(READER_KEY), "traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"},
        )
    assert answer.json()["meta"]["trace_id"] == TRACE_ID
    assert upstream.seen[0].headers["traceparent"] == TRACEPARENT
    assert upstream.seen[0].headers["tracestate"] == "agent=1"
    assert "trace_id" not in plain.json()["meta"] and "traceparent" not in upstream.seen[1].headers
    assert "trace_id" not in broken.json()["meta"], "an invalid traceparent is ignored (W3C)"
    calls = [orjson.loads(line) for line in lines.getvalue().splitlines() if '"tool_call"' in line]
    assert [c.get("trace_id") for c in calls] == [TRACE_ID, None, None], "logs name the trace"
