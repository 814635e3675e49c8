"""The tamper-evident audit trail, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import orjson
import pytest
from sqlalchemy import delete, select, update

from pasarela.audit import AuditWriter, search, verify
from pasarela.config import load_config
from pasarela.state import open_state
from pasarela.state.tables import audit_head, audit_records
from tests.helpers.gateway import BACKEND_TOKEN, ENV, READER_KEY, WRITER_KEY, bearer, in_process, write_config
from tests.helpers.processes import run_pasarela
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen, echo

pytestmark = pytest.mark.anyio
KEY = "audit-checkpoint-key-0123456789"
EXTRA = """audit: {{flush_interval: 50ms, batch_size: 100, checkpoint_key: "{key}", checkpoint_every: 5}}
tools:
  greet: {{sensitive_args: [name]}}
policies: |
  @id("no-broken") forbid(principal, action == Action::"call", resource == Tool::"getItem")
  when {{ context.args has item_id && context.args.item_id == "forbidden" }};
state: {state}
"""


@pytest.fixture
def config(tmp_path: Path, state_url: str) -> Iterator[Path]:
    def behaviour(seen: Seen) -> Reply:
        return Reply(500, {"error": "down"}) if seen.raw_path.endswith("/broken") else echo(seen)

    with ThreadedServer(RecordingUpstream(behaviour)) as upstream:
        yield write_config(tmp_path, upstream.url, extra=EXTRA.format(key=KEY, state=state_url))


async def traffic(config: Path, calls: int = 0) -> None:
    async with in_process(config) as (client, _):
        post = client.post
        await post("/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY))
        await post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "forbidden"}}, headers=bearer(READER_KEY)
        )
        await post("/v1/tools/createItem:call", json={"arguments": {"name": "x"}}, headers=bearer(READER_KEY))
        await post("/v1/tools/getItem:call", json={"arguments": {}}, headers=bearer(READER_KEY))
        await post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "broken"}}, headers=bearer(WRITER_KEY)
        )
        await post(
            "/v1/tools/greet:call", json={"arguments": {"name": "Ana María"}}, headers=bearer(READER_KEY)
        )
        await post(
            "/v1/tools/searchItems:call",
            json={"arguments": {"tag": [BACKEND_TOKEN]}},
            headers=bearer(WRITER_KEY),
        )
        for index in range(calls):
            await post(
                "/v1/tools/greet:call", json={"arguments": {"name": str(index)}}, headers=bearer(READER_KEY)
            )


def sample_record(**overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "at": 1.0,
        "request_id": "r",
        "principal": "p",
        "on_behalf_of": None,
        "door": "rest",
        "tool": "t",
        "arguments": "{}",
        "decision": "allow",
        "policies": "[]",
        "outcome": "ok",
        "upstream_status": None,
        "latency_ms": 1.0,
    }
    return {**record, **overrides}


async def store_for(config: Path):  # type: ignore[no-untyped-def]
    loaded = load_config(config, environ=ENV)
    return await open_state(loaded.settings.state, loaded.base_dir)


async def test_every_call_and_denial_is_recorded(config: Path) -> None:
    await traffic(config)
    store = await store_for(config)
    records = await search(store)
    await store.aclose()
    summary = [
        (r["principal"], r["tool"], r["decision"], r["outcome"], r["upstream_status"]) for r in records
    ]
    assert summary == [
        ("reader", "getItem", "allow", "ok", 200),
        ("reader", "getItem", "deny", "denied", None),
        ("reader", "createItem", "deny", "denied", None),
        ("reader", "getItem", "allow", "invalid_arguments", None),
        ("writer", "getItem", "allow", "upstream_error", 500),
        ("reader", "greet", "allow", "ok", None),
        ("writer", "searchItems", "allow", "ok", 200),
    ]
    assert json.loads(records[0]["policies"]) == ["access.reader"]
    assert json.loads(records[1]["policies"]) == ["no-broken"]
    assert json.loads(records[2]["policies"]) == []
    assert json.loads(records[5]["arguments"]) == {"name": "***"}, "sensitive arguments are masked"
    assert BACKEND_TOKEN not in records[6]["arguments"], "known secrets never reach the trail"
    assert all(r["request_id"] and r["latency_ms"] >= 0 for r in records)


async def test_writes_are_batched_not_per_call(config: Path) -> None:
    async with in_process(config) as (client, runtime):
        for index in range(60):
            await client.post(
                "/v1/tools/greet:call", json={"arguments": {"name": str(index)}}, headers=bearer(READER_KEY)
            )
        writer = runtime.audit
        assert writer is not None
        await anyio.sleep(0.2)
        batches = writer.batches
    assert 1 <= batches <= 10, f"60 calls took {batches} database round trips"


async def test_verify_passes_then_detects_each_kind_of_tampering(config: Path) -> None:
    await traffic(config, calls=8)
    store = await store_for(config)
    key = KEY.encode()
    verdict = await verify(store, key)
    assert verdict.ok, verdict.message
    assert verdict.records == 15

    async def tamper(statement: object) -> None:
        async with store.engine.begin() as db:
            await db.execute(statement)

    async def snapshot() -> list[dict[str, object]]:
        async with store.engine.connect() as db:
            return [
                dict(r._mapping)
                for r in (await db.execute(select(audit_records).order_by(audit_records.c.seq))).all()
            ]

    original = await snapshot()

    async def restore() -> None:
        async with store.engine.begin() as db:
            await db.execute(delete(audit_records))
            await db.execute(audit_records.insert(), original)
            last = original[-1]
            await db.execute(update(audit_head).values(last_seq=last["seq"], last_hash=last["hash"]))
        assert (await verify(store, key)).ok

    # an edit
    await tamper(update(audit_records).where(audit_records.c.seq == 4).values(outcome="ok"))
    verdict = await verify(store, key)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 4)
    assert "altered" in verdict.message
    await restore()
    # a deletion
    await tamper(delete(audit_records).where(audit_records.c.seq == 6))
    verdict = await verify(store, key)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 6)
    await restore()
    # an insertion: a forged record appended after the end
    forged = {
        **original[-1],
        "seq": 16,
        "principal": "intruder",
        "prev_hash": original[-1]["hash"],
        "hash": "f" * 64,
    }
    await tamper(audit_records.insert().values(**forged))
    verdict = await verify(store, key)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 16)
    await restore()
    # a reordering: records 2 and 3 swap places
    second, third = original[1], original[2]
    await tamper(delete(audit_records).where(audit_records.c.seq.in_([2, 3])))
    await tamper(audit_records.insert().values(**{**third, "seq": 2}))
    await tamper(audit_records.insert().values(**{**second, "seq": 3}))
    verdict = await verify(store, key)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)
    await restore()
    # truncation of the tail, with the head "fixed up" to match: the signed checkpoint catches it
    await tamper(delete(audit_records).where(audit_records.c.seq > 11))
    await tamper(update(audit_head).values(last_seq=11, last_hash=original[10]["hash"]))
    verdict = await verify(store, key)
    assert not verdict.ok
    assert "removed" in verdict.message
    await restore()
    await store.aclose()


async def test_the_chain_continues_across_restarts_and_survives_a_crash(config: Path) -> None:
    await traffic(config)
    await traffic(config)
    store = await store_for(config)
    writer = AuditWriter(store, flush_interval=60, batch_size=1000)
    await writer.start()
    writer.submit(sample_record(door="cli"))
    # The process dies here: the queued record is lost, the chain is not broken.
    verdict = await verify(store, KEY.encode())
    assert verdict.ok, verdict.message
    assert verdict.records == 14
    await store.aclose()


async def test_replicas_extend_one_chain(config: Path) -> None:
    stores = [await store_for(config) for _ in range(2)]
    writers = [AuditWriter(s, flush_interval=0.01, batch_size=7) for s in stores]
    for writer in writers:
        await writer.start()

    async def write(writer: AuditWriter, replica: int) -> None:
        for index in range(40):
            writer.submit(
                sample_record(
                    at=float(index), request_id=f"{replica}-{index}", principal=f"replica-{replica}"
                )
            )
            await anyio.lowlevel.checkpoint()
        await writer.aclose()

    async with anyio.create_task_group() as group:
        group.start_soon(write, writers[0], 0)
        group.start_soon(write, writers[1], 1)
    verdict = await verify(stores[0], None)
    assert verdict.ok, verdict.message
    assert verdict.records == 80
    for store in stores:
        await store.aclose()


def test_cli_verify_tail_search(config: Path) -> None:
    anyio.run(traffic, config)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_pasarela("audit", *args, "-c", str(config), env=ENV)

    verified = cli("verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit: OK — 7 record(s), chain intact, 1 checkpoint(s) verified" in verified.stderr
    tail = cli("tail", "-n", "2").stdout.splitlines()
    assert len(tail) == 2
    assert tail[0].startswith("#6 ")
    assert 'args={"name":"***"}' in tail[0]
    found = [
        orjson.loads(line) for line in cli("search", "--outcome", "denied", "--json").stdout.splitlines()
    ]
    assert [r["seq"] for r in found] == [2, 3]
    assert cli("search", "--since", "yesterday").returncode == 2

    async def corrupt() -> None:
        store = await store_for(config)
        async with store.engine.begin() as db:
            await db.execute(
                update(audit_records).where(audit_records.c.seq == 3).values(principal="someone-else")
            )
        await store.aclose()

    anyio.run(corrupt)
    tampered = cli("verify")
    assert tampered.returncode == 3
    assert "record 3 was altered" in tampered.stderr


async def test_calls_to_unknown_tools_are_recorded_as_denials(config: Path) -> None:
    async with in_process(config) as (client, _):
        response = await client.post(
            "/v1/tools/drop_all_tables:call", json={"arguments": {"really": True}}, headers=bearer(READER_KEY)
        )
    assert response.status_code == 404
    store = await store_for(config)
    records = await search(store)
    await store.aclose()
    assert [(r["tool"], r["decision"], r["outcome"], r["arguments"]) for r in records] == [
        ("drop_all_tables", "deny", "unknown_tool", '{"really":true}')
    ]
