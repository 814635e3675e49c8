"""No call escapes the trail: odd values, refused records, a stalled database, group commit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy import text

from pasarela.audit import AuditWriter, search, verify
from pasarela.errors import AccessDenied, InvalidArguments, ToolNotFound
from pasarela.identity import Principal
from pasarela.pipeline.call import Door
from tests.audit.test_audit import KEY, sample_record, store_for
from tests.helpers.gateway import READER_KEY, WRITER_KEY, bearer, in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, echo

pytestmark = pytest.mark.anyio
HUGE = 2**70


def extra(state: str, audit: str = "") -> str:
    flush = "" if "flush_interval" in audit else "flush_interval: 60s, "  # `audit` may set its own
    return f"""audit: {{{flush}checkpoint_key: "{KEY}", commit_timeout: 1s{audit}}}
policies: |
  @id("no-huge") forbid(principal, action == Action::"call", resource == Tool::"greet")
  when {{ context.args has name && context.args.name == "forbidden" }};
state: {state}
"""


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with ThreadedServer(RecordingUpstream(echo)) as upstream:
        yield upstream.url


async def records_of(config: Path) -> list[dict[str, object]]:
    store = await store_for(config)
    try:
        return await search(store, limit=1000)
    finally:
        await store.aclose()


async def test_values_orjson_cannot_encode_are_recorded_exactly(
    tmp_path: Path, upstream_url: str, state_url: str
) -> None:
    config = write_config(tmp_path, upstream_url, extra=extra(state_url))
    deep: dict[str, object] = {}
    node = deep
    for _ in range(300):  # deeper than orjson's 255 levels
        node["n"] = {}
        node = node["n"]  # type: ignore[assignment]
    async with in_process(config) as (_, runtime):
        gateway = runtime.gateway
        reader = Principal("tester", roles=frozenset({"reader"}))
        with pytest.raises(InvalidArguments):
            await gateway.call(reader, "greet", {"name": HUGE}, door=Door.CLI, request_id="huge-1")
        with pytest.raises(AccessDenied):
            await gateway.call(
                reader, "greet", {"name": "forbidden", "x": HUGE}, door=Door.CLI, request_id="d"
            )
        with pytest.raises(ToolNotFound):
            await gateway.call(reader, "nosuch", {"v": HUGE, "deep": deep}, door=Door.CLI, request_id="u")
    records = {r["request_id"]: r for r in await records_of(config)}
    assert set(records) == {"huge-1", "d", "u"}, "every attempt has a record"
    assert json.loads(records["huge-1"]["arguments"]) == {"name": HUGE}  # type: ignore[arg-type]
    assert records["d"]["decision"] == "deny"
    assert json.loads(records["d"]["arguments"])["x"] == HUGE  # type: ignore[arg-type]
    assert json.loads(records["u"]["arguments"])["v"] == HUGE  # type: ignore[arg-type]


async def test_fields_an_agent_controls_cannot_fail_a_batch(
    tmp_path: Path, upstream_url: str, state_url: str
) -> None:
    config = write_config(tmp_path, upstream_url, extra=extra(state_url))
    odd_names = ["t" * 65, "x" * 5000, "nul\x00tool", "lone\ud800surrogate"]
    async with in_process(config) as (client, runtime):
        for index, name in enumerate(odd_names):
            with pytest.raises(ToolNotFound):
                await runtime.gateway.call(
                    Principal("reader\x00" + "p" * 300),
                    name,
                    {},
                    door=Door.MCP,
                    request_id=f"odd-{index}-" + "r" * 400,
                )
        answered = 0
        for index in range(20):
            response = await client.post(
                "/v1/tools/greet:call", json={"arguments": {"name": f"n{index}"}}, headers=bearer(READER_KEY)
            )
            answered += response.status_code == 200
        assert runtime.audit is not None
        await runtime.audit.flush()
        assert runtime.audit.healthy
    records = await records_of(config)
    assert answered == 20
    assert len(records) == 24, "every later call is recorded, and the odd ones too"
    assert [r["tool"] for r in records[:4]] == [
        "t" * 63 + "…",
        "x" * 63 + "…",
        "nul\ufffdtool",
        "lone\\ud800surrogate",
    ]
    store = await store_for(config)
    assert (await verify(store, KEY.encode())).ok
    await store.aclose()


async def test_a_record_the_database_refuses_is_isolated_not_dropped(state_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", extra=f"state: {state_url}\n")
    store = await store_for(config)
    writer = AuditWriter(store, flush_interval=60)
    await writer.start()
    writer.submit(sample_record(request_id="before"))
    # NOT NULL broken whatever is done to lengths: the database refuses this row.
    writer.submit(sample_record(request_id="bad", principal=None, latency_ms="slow"))
    writer.submit(sample_record(request_id="after"))
    await writer.flush()
    records = await search(store)
    assert [r["request_id"] for r in records] == ["before", "bad", "after"]
    assert "_unrecordable" in records[1]["arguments"]
    assert writer.stand_ins == 1 and writer.healthy
    assert (await verify(store, None)).ok
    await writer.aclose()
    await store.aclose()


async def _hold_the_audit_lock(store_url: str, config: Path, held: anyio.Event, release: anyio.Event) -> None:
    """Another session holds the chain head, as a hung or locked database would."""
    store = await store_for(config)
    async with store.engine.begin() as db:  # SQLite: BEGIN IMMEDIATE takes the one write lock
        if store.dialect == "postgresql":
            await db.execute(text("LOCK TABLE pasarela_audit_head IN ACCESS EXCLUSIVE MODE"))
        held.set()
        await release.wait()
    await store.aclose()


async def test_a_writer_that_cannot_write_makes_the_gateway_unready_and_refuses_writes(
    tmp_path: Path, upstream_url: str, state_url: str
) -> None:
    config = write_config(tmp_path, upstream_url, extra=extra(state_url, ", flush_interval: 50ms"))
    async with in_process(config) as (client, runtime), anyio.create_task_group() as group:
        assert (await client.get("/readyz")).status_code == 200
        held, release = anyio.Event(), anyio.Event()
        group.start_soon(_hold_the_audit_lock, state_url, config, held, release)
        await held.wait()
        # A write while the trail is stuck: the backend answers, the answer is withheld.
        stuck = await client.post(
            "/v1/tools/createItem:call", json={"arguments": {"name": "a"}}, headers=bearer(WRITER_KEY)
        )
        assert stuck.status_code == 503
        assert stuck.json()["code"] == "audit_unavailable"
        assert stuck.json()["completed"] is True
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()["status"]) == (503, "audit_unavailable")
        refused = await client.post(
            "/v1/tools/createItem:call", json={"arguments": {"name": "b"}}, headers=bearer(WRITER_KEY)
        )
        assert (refused.status_code, refused.json()["completed"]) == (503, False)
        assert "Retry-After" in refused.headers
        read = await client.post(
            "/v1/tools/greet:call", json={"arguments": {"name": "r"}}, headers=bearer(READER_KEY)
        )
        assert read.status_code == 200, "read-only tools are served (audit.when_unavailable: refuse_writes)"
        release.set()
        with anyio.fail_after(30):
            while (await client.get("/readyz")).status_code != 200:  # noqa: ASYNC110 — polling over HTTP
                await anyio.sleep(0.05)
        assert runtime.audit is not None and runtime.audit.healthy
    outcomes = [(r["tool"], r["outcome"]) for r in await records_of(config)]
    assert outcomes == [("createItem", "ok"), ("createItem", "audit_unavailable"), ("greet", "ok")]


@pytest.mark.parametrize(("durability", "write_is_durable"), [("writes", True), ("none", False)])
async def test_group_commit_answers_a_write_only_once_its_record_is_committed(
    tmp_path: Path, upstream_url: str, durability: str, write_is_durable: bool
) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    config = write_config(tmp_path, upstream_url, extra=extra(state, f", durability: {durability}"))
    async with in_process(config) as (client, runtime):
        response = await client.post(
            "/v1/tools/createItem:call", json={"arguments": {"name": "a"}}, headers=bearer(WRITER_KEY)
        )
        assert response.status_code == 200
        # flush_interval is 60 s: only group commit can have written it already.
        written = [r["tool"] for r in await records_of(config)]
        assert written == (["createItem"] if write_is_durable else [])
        await client.post(
            "/v1/tools/greet:call", json={"arguments": {"name": "r"}}, headers=bearer(READER_KEY)
        )
        assert [r["tool"] for r in await records_of(config)] == written, "reads are not waited for"
        assert runtime.audit is not None
        # Twenty concurrent writes share commits rather than taking one each.
        before = runtime.audit.batches

        async def write(name: str) -> None:
            await client.post(
                "/v1/tools/createItem:call", json={"arguments": {"name": name}}, headers=bearer(WRITER_KEY)
            )

        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(write, str(index))
        if write_is_durable:
            assert len(await records_of(config)) == 22
            assert runtime.audit.batches - before < 20
    assert len(await records_of(config)) == 22, "shutdown drains the queue"


async def test_a_batch_mixing_records_with_and_without_a_parent_keeps_every_field(
    state_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", extra=f"state: {state_url}\n")
    store = await store_for(config)
    writer = AuditWriter(store, flush_interval=60)
    await writer.start()
    writer.submit(sample_record(request_id="composite"))  # the first row has no parent...
    writer.submit(sample_record(request_id="step", parent_id="composite", via="composite"))
    await writer.flush()  # ...and both go in one INSERT
    records = {r["request_id"]: r for r in await search(store)}
    assert (records["step"]["parent_id"], records["step"]["via"]) == ("composite", "composite")
    assert writer.batches == 1 and writer.stand_ins == 0
    assert (await verify(store, None)).ok
    await writer.aclose()
    await store.aclose()
