"""The REST door over the whole ASGI app, against a real recording upstream."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pasarela.telemetry import configure_logging
from tests.helpers.gateway import (
    BACKEND_TOKEN,
    NOBODY_KEY,
    READER_KEY,
    WRITER_KEY,
    bearer,
    in_process,
    write_config,
)
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen, echo

pytestmark = pytest.mark.anyio
PROBLEM = "application/problem+json"


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    def behaviour(seen: Seen) -> Reply:
        if seen.raw_path == "/items/broken":
            return Reply(500, {"error": "database down", "leak": seen.headers.get("authorization")})
        return echo(seen)

    recorder = RecordingUpstream(behaviour)
    with ThreadedServer(recorder) as server:
        recorder.url = server.url  # type: ignore[attr-defined]
        yield recorder


@pytest.fixture
def config(tmp_path: Path, upstream: RecordingUpstream) -> Path:
    return write_config(tmp_path, upstream.url)  # type: ignore[attr-defined]


async def test_tools_are_listed_per_principal_in_every_format(config: Path) -> None:
    async with in_process(config) as (client, _):
        native = (await client.get("/v1/tools", headers=bearer(READER_KEY))).json()["tools"]
        assert [t["name"] for t in native] == ["getItem", "searchItems", "greet", "explode"]
        assert set(native[0]) == {"name", "description", "inputSchema", "outputSchema", "annotations"}
        assert native[0]["annotations"]["readOnlyHint"] is True
        openai = (await client.get("/v1/tools?format=openai", headers=bearer(READER_KEY))).json()["tools"]
        assert openai[0] == {
            "type": "function",
            "function": {
                "name": "getItem",
                "description": "Get one item",
                "parameters": native[0]["inputSchema"],
            },
        }
        anthropic = (await client.get("/v1/tools?format=anthropic", headers=bearer(READER_KEY))).json()[
            "tools"
        ]
        assert anthropic[2]["name"] == "greet"
        assert anthropic[2]["input_schema"]["required"] == ["name"]
        everything = (await client.get("/v1/tools", headers=bearer(WRITER_KEY))).json()["tools"]
        assert len(everything) == 16
        assert (await client.get("/v1/tools", headers=bearer(NOBODY_KEY))).json() == {"tools": []}
        bad = await client.get("/v1/tools?format=xml", headers=bearer(READER_KEY))
        assert bad.status_code == 400
        assert bad.headers["content-type"] == PROBLEM


async def test_a_call_returns_result_and_meta(config: Path, upstream: RecordingUpstream) -> None:
    async with in_process(config) as (client, _):
        response = await client.post(
            "/v1/tools/getItem:call",
            json={"arguments": {"item_id": "a/b"}},
            headers={**bearer(READER_KEY), "X-Request-Id": "req-abc.1"},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["result"]["path"] == "/items/a%2Fb"
    assert body["meta"]["backend"] == "items"
    assert body["meta"]["upstream_status"] == 200
    assert body["meta"]["request_id"] == "req-abc.1"
    assert response.headers["x-request-id"] == "req-abc.1"


async def test_inbound_credentials_never_reach_the_upstream(
    config: Path, upstream: RecordingUpstream
) -> None:
    async with in_process(config) as (client, _):
        await client.post(
            "/v1/tools/getItem:call",
            json={"arguments": {"item_id": "1"}},
            headers={**bearer(READER_KEY), "Cookie": "session=caller", "X-Api-Key": "caller-key"},
        )
    seen = upstream.seen[-1]
    assert seen.headers["authorization"] == f"Bearer {BACKEND_TOKEN}"
    assert READER_KEY not in str(seen.headers)
    assert "cookie" not in seen.headers
    assert "x-api-key" not in seen.headers


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong-key"), {"Authorization": f"Basic {READER_KEY}"}, {"Authorization": "Bearer "}],
    ids=["missing", "unknown", "wrong-scheme", "empty"],
)
async def test_unauthenticated_requests_get_401(config: Path, headers: dict[str, str]) -> None:
    async with in_process(config) as (client, _):
        for response in (
            await client.get("/v1/tools", headers=headers),
            await client.post("/v1/tools/getItem:call", json={"arguments": {}}, headers=headers),
        ):
            assert response.status_code == 401
            assert response.headers["content-type"] == PROBLEM
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["type"] == "urn:pasarela:problem:unauthenticated"
        # MCP clients read JSON-RPC errors, not problem+json: same status and header, the
        # problem document as the error's data.
        mcp = await client.post("/mcp", json={}, headers=headers)
        assert mcp.status_code == 401
        assert mcp.headers["content-type"] == "application/json"
        assert mcp.headers["www-authenticate"].startswith("Bearer")
        error = mcp.json()["error"]
        assert error["code"] == -32001
        assert error["message"].startswith("Authentication required: ")
        assert error["data"]["type"] == "urn:pasarela:problem:unauthenticated"


async def test_problem_documents(config: Path, upstream: RecordingUpstream) -> None:
    async with in_process(config) as (client, _):
        unknown = await client.post("/v1/tools/nope:call", json={}, headers=bearer(READER_KEY))
        denied = await client.post(
            "/v1/tools/createItem:call", json={"arguments": {"name": "x"}}, headers=bearer(READER_KEY)
        )
        invalid = await client.post(
            "/v1/tools/searchItems:call",
            json={"arguments": {"limit": 0, "tag": "not-a-list", "X-Trace": "a\r\nb"}},
            headers=bearer(READER_KEY),
        )
        not_json = await client.post("/v1/tools/getItem:call", content=b"{", headers=bearer(READER_KEY))
        stray = await client.post("/v1/tools/getItem:call", json={"args": {}}, headers=bearer(READER_KEY))
        failing = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "broken"}}, headers=bearer(READER_KEY)
        )
        crashing = await client.post("/v1/tools/explode:call", json={}, headers=bearer(READER_KEY))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_tool")
    assert (denied.status_code, denied.json()["code"]) == (403, "denied")
    assert invalid.status_code == 422
    assert sorted(e["path"] for e in invalid.json()["errors"]) == ["/X-Trace", "/limit", "/tag"]
    assert [s.raw_path for s in upstream.seen] == ["/items/broken"], (
        "only the valid call reached the upstream"
    )
    assert (not_json.status_code, stray.status_code) == (400, 400)
    assert failing.status_code == 502
    problem = failing.json()
    assert problem["upstream_status"] == 500
    assert problem["upstream_body"]["error"] == "database down"
    assert BACKEND_TOKEN not in failing.text, "a backend echoing our credential must not leak it"
    assert (crashing.status_code, crashing.json()["code"]) == (502, "upstream_error")
    for response in (unknown, denied, invalid, not_json, failing):
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].startswith("urn:pasarela:problem:")


async def test_python_tools_through_rest(config: Path) -> None:
    async with in_process(config) as (client, _):
        response = await client.post(
            "/v1/tools/greet:call", json={"arguments": {"name": "Ana"}}, headers=bearer(READER_KEY)
        )
    assert response.json()["result"] == {"text": "Hello, Ana!", "shout": False}


async def test_health_readiness_and_metrics(config: Path) -> None:
    async with in_process(config) as (client, _):
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).json() == {"status": "ready", "tools": 16}
        await client.post(
            "/v1/tools/greet:call", json={"arguments": {"name": "A"}}, headers=bearer(READER_KEY)
        )
        await client.post("/v1/tools/greet:call", json={"arguments": {}}, headers=bearer(READER_KEY))
        metrics = (await client.get("/metrics")).text
    assert 'pasarela_tool_calls_total{backend="py",door="rest",outcome="ok",tool="greet"} 1.0' in metrics
    assert (
        'pasarela_tool_calls_total{backend="py",door="rest",outcome="invalid_arguments",tool="greet"} 1.0'
        in metrics
    )
    assert 'pasarela_tool_call_duration_seconds_count{backend="py",door="rest",tool="greet"} 2.0' in metrics


async def test_logs_are_json_with_request_ids_and_no_secrets(
    config: Path, upstream: RecordingUpstream
) -> None:
    stream = io.StringIO()
    async with in_process(config) as (client, runtime):
        configure_logging(runtime.config.redactor, stream=stream)
        await client.post(
            "/v1/tools/getItem:call",
            json={"arguments": {"item_id": "broken"}},
            headers={**bearer(WRITER_KEY), "X-Request-Id": "trace-me"},
        )
        await client.get("/v1/tools", headers=bearer("wrong-" + WRITER_KEY))
        # Anything that tries to log a secret is masked.
        import structlog

        structlog.get_logger("test").warning("oops", value=f"token={BACKEND_TOKEN}", key=WRITER_KEY)
        metrics = (await client.get("/metrics")).text
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    call = next(line for line in lines if line.get("event") == "tool_call")
    assert call["request_id"] == "trace-me"
    assert call["outcome"] == "upstream_error"
    assert call["principal"] == "writer"
    assert any(line.get("event") == "authentication_failed" for line in lines)
    everything = stream.getvalue() + metrics
    assert BACKEND_TOKEN not in everything
    assert WRITER_KEY not in everything
    assert "***" in stream.getvalue()


async def test_a_backend_echoing_our_credential_in_a_result_does_not_leak_it(tmp_path: Path) -> None:
    def behaviour(seen: Seen) -> Reply:
        return Reply(200, {"debug": {"received": seen.headers.get("authorization")}, "list": [BACKEND_TOKEN]})

    with ThreadedServer(RecordingUpstream(behaviour)) as server:
        config = write_config(tmp_path, server.url)
        async with in_process(config) as (client, _):
            response = await client.post(
                "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
            )
    assert response.status_code == 200
    assert BACKEND_TOKEN not in response.text
    assert response.json()["result"] == {"debug": {"received": "Bearer ***"}, "list": ["***"]}
