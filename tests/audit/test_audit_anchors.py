"""Signed heads outside the database: rewriting, truncating or wiping the trail is detected."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import orjson
import pytest
from sqlalchemy import delete, select, text, update

from pasarela.audit import verify
from pasarela.audit.anchors import read_anchors
from pasarela.audit.chain import record_hash
from pasarela.state import StateStore
from pasarela.state.tables import audit_checkpoints, audit_head, audit_records
from tests.audit.test_audit import KEY, store_for, traffic
from tests.helpers.gateway import ENV, write_config
from tests.helpers.processes import run_pasarela
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, echo

pytestmark = pytest.mark.anyio


@pytest.fixture
def config(tmp_path: Path, state_url: str) -> Iterator[Path]:
    extra = f"""audit:
  flush_interval: 20ms
  checkpoint_key: "{KEY}"
  checkpoint_every: 1000000
  checkpoint_interval: 100ms
  anchor_file: anchors/audit.jsonl
state: {state_url}
"""
    with ThreadedServer(RecordingUpstream(echo)) as upstream:
        yield write_config(tmp_path, upstream.url, extra=extra)


def anchor_file(config: Path) -> Path:
    return config.parent / "anchors" / "audit.jsonl"


async def settled_trail(config: Path) -> StateStore:
    """Traffic, then enough idle time for the last records to be anchored."""
    await traffic(config, calls=6)
    store: StateStore = await store_for(config)
    assert (await verify(store, KEY.encode(), read_anchors([anchor_file(config)]))).ok
    return store


async def verdicts(store: StateStore, config: Path) -> tuple[bool, bool, str]:
    """(verifies without anchors, verifies with anchors, the message with anchors)."""
    without = await verify(store, KEY.encode())
    anchored = await verify(store, KEY.encode(), read_anchors([anchor_file(config)]))
    return without.ok, anchored.ok, anchored.message


async def rewrite_from(store: StateStore, seq: int, **changes: object) -> None:
    """What an intruder with database access but no key can do: edit a record, recompute every
    hash after it (they are unkeyed), fix the head, and delete the checkpoints that would object."""
    async with store.engine.begin() as db:
        rows = [dict(r._mapping) for r in (await db.execute(select(audit_records).order_by("seq"))).all()]
        chain = rows[seq - 2]["hash"] if seq > 1 else "0" * 64
        for row in rows[seq - 1 :]:
            if row["seq"] == seq:
                row.update(changes)
            row["prev_hash"] = chain
            chain = row["hash"] = record_hash(chain, row)
            await db.execute(update(audit_records).where(audit_records.c.seq == row["seq"]).values(**row))
        await db.execute(update(audit_head).values(last_seq=rows[-1]["seq"], last_hash=chain))
        await db.execute(delete(audit_checkpoints).where(audit_checkpoints.c.seq >= seq))


async def test_every_head_is_anchored_within_the_interval_even_when_idle(config: Path) -> None:
    store = await settled_trail(config)
    anchors = read_anchors([anchor_file(config)])
    async with store.engine.connect() as db:
        last = (await db.execute(select(audit_head))).one()
    await store.aclose()
    assert anchors[-1].seq == last.last_seq == 13, "the tail is anchored at shutdown"
    assert all(a.where.startswith(str(anchor_file(config))) for a in anchors)


async def test_a_rewritten_record_verifies_in_the_database_but_not_against_the_anchors(config: Path) -> None:
    store = await settled_trail(config)
    await rewrite_from(store, 4, outcome="ok", principal="someone-else")
    ok_without, ok_with, message = await verdicts(store, config)
    await store.aclose()
    assert ok_without, "the unkeyed chain alone cannot tell"
    assert not ok_with
    assert "rewritten" in message


async def test_truncation_with_the_head_fixed_up_is_detected(config: Path) -> None:
    store = await settled_trail(config)
    async with store.engine.begin() as db:
        keep = (await db.execute(select(audit_records).where(audit_records.c.seq == 5))).one()
        await db.execute(delete(audit_records).where(audit_records.c.seq > 5))
        await db.execute(delete(audit_checkpoints).where(audit_checkpoints.c.seq > 5))
        await db.execute(update(audit_head).values(last_seq=5, last_hash=keep.hash))
    ok_without, ok_with, message = await verdicts(store, config)
    await store.aclose()
    assert (ok_without, ok_with) == (True, False)
    assert "the trail ends at record 5" in message and "records were removed" in message


async def test_wiping_every_row_or_dropping_the_tables_is_detected(config: Path) -> None:
    store = await settled_trail(config)
    async with store.engine.begin() as db:
        for table in (audit_records, audit_checkpoints, audit_head):
            await db.execute(delete(table))
    ok_without, ok_with, message = await verdicts(store, config)
    assert (ok_without, ok_with) == (True, False)
    assert "the trail is empty" in message
    async with store.engine.begin() as db:
        for name in ("pasarela_audit", "pasarela_audit_checkpoints", "pasarela_audit_head"):
            await db.execute(text(f"DROP TABLE {name}"))
    await store.aclose()
    store = await store_for(config)  # opening the state recreates empty tables
    ok_without, ok_with, message = await verdicts(store, config)
    await store.aclose()
    assert (ok_without, ok_with) == (True, False)


def test_cli_verify_uses_the_configured_anchors_and_names_bad_ones(config: Path) -> None:
    anyio.run(traffic, config)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_pasarela("audit", "verify", *args, "-c", str(config), env=ENV)

    verified = cli()
    assert verified.returncode == 0, verified.stderr
    assert "anchor(s) verified" in verified.stderr
    anchors = anchor_file(config)
    lines = anchors.read_bytes().splitlines()
    forged = {**orjson.loads(lines[-1]), "seq": 999, "signature": "0" * 64}
    elsewhere = config.parent / "copy.jsonl"
    elsewhere.write_bytes(b"\n".join([*lines, orjson.dumps(forged)]) + b"\n")
    result = cli("--anchors", str(elsewhere))
    assert result.returncode == 3
    assert f"{elsewhere}:{len(lines) + 1} has a forged signature" in result.stderr
    elsewhere.write_text("not json\n")
    result = cli("--anchors", str(elsewhere))
    assert (result.returncode, f"{elsewhere}:1: not an anchor" in result.stderr) == (3, True)
    anchors.unlink()
    result = cli()
    assert result.returncode == 3
    assert "cannot read the anchor file" in result.stderr


def test_anchors_need_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", extra="audit: {anchor_file: a.jsonl}\n")
    result = run_pasarela("check", "-c", str(config), env=ENV)
    assert result.returncode == 1
    assert "anchor_file needs checkpoint_key" in result.stderr + result.stdout
