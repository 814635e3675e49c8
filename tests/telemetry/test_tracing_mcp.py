"""Traces of MCP calls: the official client against `pasarela serve`, spans to a real receiver."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mcp_types import RequestParamsMeta

from tests.helpers.gateway import BACKEND_TOKEN, ENV, READER_KEY, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.otlp import OtlpGrpcReceiver, OtlpHttpReceiver, Received
from tests.helpers.processes import serving
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream
from tests.telemetry.test_tracing_rest import (
    AGENT_SPAN,
    SECRET_ARGUMENT,
    TRACE_ID,
    TRACEPARENT,
    no_secrets_in,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

HEADER_TRACE = "0af7651916cd43dd8448eb211c80319c"
HEADER_SPAN = "b7ad6b7169203331"


def traced_config(
    directory: Path, upstream: RecordingUpstream, port: int, exporter: str, endpoint: str
) -> Path:
    return write_config(
        directory,
        upstream.url,  # type: ignore[attr-defined]
        port=port,
        extra=(
            f"state: sqlite:///{directory / 'state.db'}\naudit: {{enabled: false}}\n"
            f"telemetry:\n  tracing: {{exporter: {exporter}, endpoint: '{endpoint}', sampling: 1.0}}\n"
        ),
    )


async def two_calls(url: str, mode: str) -> tuple[dict[str, object], dict[str, object]]:
    """One call with its own context in `_meta`, one whose context is the HTTP request's."""
    async with mcp_http_client(f"{url}/mcp", READER_KEY, mode=mode) as client:
        with_meta = await client.call_tool(
            "getItem",
            {"item_id": SECRET_ARGUMENT},
            meta=RequestParamsMeta(traceparent=TRACEPARENT),  # type: ignore[typeddict-unknown-key]
        )
    async with mcp_http_client(
        f"{url}/mcp", READER_KEY, mode=mode, headers={"traceparent": f"00-{HEADER_TRACE}-{HEADER_SPAN}-01"}
    ) as client:
        from_header = await client.call_tool("getItem", {"item_id": "2"})
    assert not with_meta.is_error and not from_header.is_error
    assert with_meta.meta is not None and from_header.meta is not None
    return with_meta.meta["pasarela"], from_header.meta["pasarela"]


def check_tree(received: Received, upstream: RecordingUpstream) -> None:
    by_trace = {s.trace_id for s in received.spans}
    assert {TRACE_ID, HEADER_TRACE} <= by_trace
    mcp_spans = [s for s in received.spans if s.name == "tools/call getItem"]
    meta_span = next(s for s in mcp_spans if s.trace_id == TRACE_ID)
    assert (meta_span.kind, meta_span.parent_id) == ("server", AGENT_SPAN), "_meta.traceparent is the parent"
    assert meta_span.attributes["mcp.method.name"] == "tools/call"
    assert meta_span.attributes["gen_ai.tool.name"] == "getItem"
    header_span = next(s for s in mcp_spans if s.trace_id == HEADER_TRACE)
    http = [s for s in received.spans if s.span_id == header_span.parent_id]
    assert [s.name for s in http] == ["POST /mcp"], "without _meta, the HTTP request's span is the parent"
    assert http[0].parent_id == HEADER_SPAN
    backend = next(s for s in received.spans if s.name == "GET /items/{item_id}" and s.trace_id == TRACE_ID)
    assert received.path_to(backend)[:2] == ["tools/call getItem", "execute_tool getItem"]
    sent = next(seen for seen in upstream.seen if SECRET_ARGUMENT in seen.raw_path)
    assert sent.headers["traceparent"] == f"00-{TRACE_ID}-{backend.span_id}-01"
    no_secrets_in(received.spans)
    assert all(BACKEND_TOKEN not in str(s.attributes) for s in received.spans)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_mcp_calls_keep_the_agents_trace_over_otlp_http(
    tmp_path: Path, upstream: RecordingUpstream, mode: str
) -> None:
    otlp = OtlpHttpReceiver()
    port = free_port()
    with ThreadedServer(otlp) as collector:
        config = traced_config(tmp_path, upstream, port, "otlp_http", f"{collector.url}/v1/traces")
        with serving(config, port, ENV) as url:
            with_meta, from_header = await two_calls(url, mode)
            metrics = httpx.get(f"{url}/metrics", timeout=10).text
        # The gateway exports what it still holds as it stops.
    assert 'pasarela_agent_calls_total{agent="reader",door="mcp",outcome="ok"} 2.0' in metrics
    opened = 'pasarela_mcp_sessions_opened_total{agent="reader"} 2.0'
    assert (opened in metrics) == (mode == "legacy"), "only the handshake-era protocol has sessions"
    assert (with_meta["trace_id"], from_header["trace_id"]) == (TRACE_ID, HEADER_TRACE)
    check_tree(otlp.received, upstream)
    if mode == "legacy":  # a session: its id is recorded only as a hash
        sessions = {s.attributes.get("mcp.session.id") for s in otlp.received.spans if s.kind == "server"}
        assert any(isinstance(found, str) and len(found) == 32 for found in sessions)


async def test_spans_reach_an_otlp_grpc_collector(tmp_path: Path, upstream: RecordingUpstream) -> None:
    port = free_port()
    with OtlpGrpcReceiver() as collector:
        config = traced_config(tmp_path, upstream, port, "otlp_grpc", collector.url)
        with serving(config, port, ENV) as url:
            await two_calls(url, "auto")
    check_tree(collector.received, upstream)
