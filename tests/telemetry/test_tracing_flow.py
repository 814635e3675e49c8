"""Spans for composite steps, retries and SQL, and freshness (`as_of`, `source`) on every answer."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.helpers.gateway import READER_KEY, WRITER_KEY, bearer, gateway_for
from tests.helpers.otlp import OtlpHttpReceiver
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen, echo
from tests.orchestration.test_composites import BACKENDS, COMPOSITES
from tests.telemetry.test_tracing_rest import TRACEPARENT, tracing

pytestmark = pytest.mark.anyio

BACKEND_DATE = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
CHANGED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    """/items/flaky fails once with 503, then answers; /items/dated says when its data was current."""
    failures = {"flaky": 1}

    def behaviour(seen: Seen) -> Reply:
        if seen.raw_path == "/items/flaky" and failures["flaky"]:
            failures["flaky"] -= 1
            return Reply(503, {"error": "busy"})
        if seen.raw_path == "/items/dated":
            headers = {"Date": format_datetime(BACKEND_DATE, usegmt=True)}
            headers["Last-Modified"] = format_datetime(CHANGED, usegmt=True)
            return Reply(200, {"id": "dated"}, headers=headers)
        return echo(seen)

    recorder = RecordingUpstream(behaviour)
    with ThreadedServer(recorder, date_header=False) as server:
        recorder.url = server.url  # type: ignore[attr-defined]
        yield recorder


async def test_composite_steps_are_child_call_spans_of_the_composite(
    tmp_path: Path, receiver: OtlpHttpReceiver
) -> None:
    extra = COMPOSITES.replace("access:\n  reader:", "access:\n  writer: ['*']\n  reader:") + tracing(
        receiver
    )
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=extra) as (client, _):
        answer = await client.post(
            "/v1/tools/overview:call",
            json={"arguments": {"name": "Ada", "count": 2}},
            headers={**bearer(READER_KEY), "traceparent": TRACEPARENT},
        )
        assert answer.status_code == 200, answer.text
        request_id = answer.json()["meta"]["request_id"]
        assert answer.json()["meta"]["as_of"] <= datetime.now(UTC).isoformat(), "a composite says as_of too"
    received = receiver.received
    composite = received.named("execute_tool overview")
    steps = [s for s in received.spans if s.attributes.get("pasarela.via") == "composite"]
    assert sorted(s.name for s in steps) == sorted(
        ["execute_tool hold"] * 4 + ["execute_tool ids", "execute_tool greet"]
    ), "two holds, the list, two fanned-out holds, the greeting"
    for step in steps:
        assert received.path_to(step)[:2] == ["POST /v1/tools/{name}:call", "execute_tool overview"]
        assert step.attributes["pasarela.parent_id"] == request_id
        assert step.trace_id == composite.trace_id


async def test_each_attempt_of_a_retried_call_is_a_span_with_its_backend_call(
    tmp_path: Path, upstream: RecordingUpstream, receiver: OtlpHttpReceiver
) -> None:
    retry = "    retry: {attempts: 3, wait_initial: 10ms, wait_jitter: 0s}\n"
    async with gateway_for(tmp_path, upstream.url, items=retry, extra=tracing(receiver)) as (client, _):  # type: ignore[attr-defined]
        answer = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "flaky"}}, headers=bearer(READER_KEY)
        )
        assert answer.status_code == 200, answer.text
    received = receiver.received
    attempts = sorted(
        (s for s in received.spans if s.name == "attempt"), key=lambda s: s.attributes["pasarela.attempt"]
    )
    assert [a.attributes["pasarela.attempt"] for a in attempts] == [1, 2]
    assert attempts[0].attributes["error.type"] == "upstream_error"
    assert "error.type" not in attempts[1].attributes
    calls = [received.children(a) for a in attempts]
    assert [[c.name for c in found] for found in calls] == [["GET /items/{item_id}"]] * 2
    assert [found[0].attributes["http.response.status_code"] for found in calls] == [503, 200]
    assert len({a.parent_id for a in attempts}) == 1, "both under the resilience stage"


async def test_sql_calls_follow_the_database_conventions_without_argument_values(
    tmp_path: Path, receiver: OtlpHttpReceiver
) -> None:
    database = tmp_path / "bank.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE accounts (id TEXT, owner TEXT)")
        db.execute("INSERT INTO accounts VALUES ('ACC-SECRET-1', 'Ada')")
    backends = (
        f"  bank:\n    sql: sqlite:///{database}\n    queries:\n"  # noqa: S608 (YAML, not SQL from input)
        "      owner_of:\n        sql: 'SELECT owner FROM accounts WHERE id = :account_id'\n"
        "        parameters: {account_id: {type: string}}\n"
    )
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=backends, extra=tracing(receiver)) as (
        client,
        _,
    ):
        answer = await client.post(
            "/v1/tools/owner_of:call",
            json={"arguments": {"account_id": "ACC-SECRET-1"}},
            headers=bearer(WRITER_KEY),
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["meta"]["source"] == "bank" and "as_of" in answer.json()["meta"]
    span = receiver.received.named("SELECT sqlite")
    assert span.kind == "client"
    assert span.attributes["db.system.name"] == "sqlite"
    assert span.attributes["db.operation.name"] == "SELECT"
    assert span.attributes["db.query.text"] == "SELECT owner FROM accounts WHERE id = :account_id"
    assert all("ACC-SECRET-1" not in str(s.attributes) for s in receiver.received.spans)


async def test_every_answer_says_as_of_and_source_using_the_backends_own_dates(
    tmp_path: Path, upstream: RecordingUpstream
) -> None:
    cached = "tools:\n  getItem: {cache: {ttl: 1m}}\n"
    async with gateway_for(tmp_path, upstream.url, extra=cached) as (client, _):  # type: ignore[attr-defined]

        def get(item: str):  # type: ignore[no-untyped-def]
            return client.post(
                "/v1/tools/getItem:call", json={"arguments": {"item_id": item}}, headers=bearer(READER_KEY)
            )

        dated = (await get("dated")).json()["meta"]
        again = (await get("dated")).json()["meta"]
        plain = (await get("7")).json()["meta"]
        python = (
            await client.post(
                "/v1/tools/greet:call", json={"arguments": {"name": "A"}}, headers=bearer(READER_KEY)
            )
        ).json()["meta"]
    assert (dated["as_of"], dated["last_modified"]) == (
        "2026-03-04T05:06:07.000Z",
        "2026-01-02T03:04:05.000Z",
    )
    assert (dated["source"], dated["cache"]) == ("items", "miss")
    assert (again["as_of"], again["source"], again["cache"]) == ("2026-03-04T05:06:07.000Z", "cache", "hit")
    assert plain["as_of"].endswith("Z") and plain["source"] == "items" and "last_modified" not in plain
    assert python["as_of"].endswith("Z") and python["source"] == "py"
