"""Reading the audit trail: verify the chain, tail it, search it."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from pasarela.audit.anchors import Anchor
from pasarela.audit.chain import GENESIS, checkpoint_signature, record_hash
from pasarela.state import StateStore
from pasarela.state.tables import audit_checkpoints, audit_head, audit_records

PAGE = 5000


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    records: int
    message: str
    first_bad_seq: int | None = None


async def _records(store: StateStore) -> AsyncIterator[Any]:
    after = 0
    while True:
        async with store.engine.connect() as db:
            page = (
                await db.execute(
                    select(audit_records)
                    .where(audit_records.c.seq > after)
                    .order_by(audit_records.c.seq)
                    .limit(PAGE)
                )
            ).all()
        if not page:
            return
        for row in page:
            yield row
        after = page[-1].seq


async def count_records(store: StateStore) -> int:
    async with store.engine.connect() as db:
        return int((await db.execute(select(func.count()).select_from(audit_records))).scalar() or 0)


async def verify(
    store: StateStore,
    checkpoint_key: bytes | None,
    anchors: Sequence[Anchor] = (),
    on_record: Callable[[int], None] | None = None,
) -> Verdict:
    """Check the chain, the head row, the checkpoints in the database and the anchors outside it.
    `on_record(n)` is told every PAGE records (progress for people at a terminal)."""
    expected_seq, chain, count = 1, GENESIS, 0
    hashes: dict[int, str] = {}
    async for row in _records(store):
        if on_record is not None and count % PAGE == 0 and count:
            on_record(PAGE)
        record = dict(row._mapping)
        if row.seq != expected_seq:
            what = "missing" if row.seq > expected_seq else "out of order"
            return Verdict(
                False, count, f"record {expected_seq} is {what} (found {row.seq} next)", expected_seq
            )
        if row.prev_hash != chain:
            return Verdict(False, count, f"record {row.seq} does not follow record {row.seq - 1}", row.seq)
        if record_hash(chain, record) != row.hash:
            return Verdict(
                False,
                count,
                f"record {row.seq} was altered (its content no longer matches its hash)",
                row.seq,
            )
        chain = row.hash
        hashes[row.seq] = row.hash
        expected_seq += 1
        count += 1
    last_seq = expected_seq - 1
    async with store.engine.connect() as db:
        head = (await db.execute(select(audit_head).where(audit_head.c.id == 1))).first()
        checkpoints = (await db.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq))).all()
    if head is not None and (head.last_seq, head.last_hash) != (last_seq, chain):
        return Verdict(
            False,
            count,
            f"the chain should end at record {head.last_seq}, but ends at {last_seq}",
            last_seq + 1,
        )
    for point in checkpoints:
        if (
            checkpoint_key is not None
            and checkpoint_signature(checkpoint_key, point.seq, point.hash) != point.signature
        ):
            return Verdict(
                False, count, f"the checkpoint at record {point.seq} has a forged signature", point.seq
            )
        if point.seq > last_seq:
            return Verdict(
                False,
                count,
                f"records after {last_seq} were removed (a signed checkpoint vouches for {point.seq})",
                last_seq + 1,
            )
        if hashes.get(point.seq) != point.hash:
            return Verdict(False, count, f"record {point.seq} differs from its signed checkpoint", point.seq)
    problem = _against_anchors(anchors, checkpoint_key, hashes, last_seq)
    if problem is not None:
        return Verdict(False, count, *problem)
    anchored = f", {len(anchors)} anchor(s)" if anchors else ""
    return Verdict(
        True, count, f"{count} record(s), chain intact, {len(checkpoints)} checkpoint(s){anchored} verified"
    )


def _against_anchors(
    anchors: Sequence[Anchor], key: bytes | None, hashes: dict[int, str], last_seq: int
) -> tuple[str, int] | None:
    """The first thing the anchors contradict, as (message, first bad seq), or None."""
    if anchors and key is None:
        return "anchors can only be checked with audit.checkpoint_key (the key that signed them)", 0
    for anchor in anchors:
        assert key is not None
        if not hmac.compare_digest(checkpoint_signature(key, anchor.seq, anchor.hash), anchor.signature):
            return f"the anchor at {anchor.where} has a forged signature", anchor.seq
        if anchor.seq > last_seq:
            what = "the trail is empty" if last_seq == 0 else f"the trail ends at record {last_seq}"
            return (
                f"{what}, but the anchor at {anchor.where} vouches for record {anchor.seq}: "
                "records were removed",
                last_seq + 1,
            )
        if hashes.get(anchor.seq) != anchor.hash:
            return f"record {anchor.seq} differs from the anchor at {anchor.where}: rewritten", anchor.seq
    return None


async def search(
    store: StateStore,
    *,
    principal: str | None = None,
    tool: str | None = None,
    outcome: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The most recent matching records, newest last."""
    query = select(audit_records)
    if principal is not None:
        query = query.where(audit_records.c.principal == principal)
    if tool is not None:
        query = query.where(audit_records.c.tool == tool)
    if outcome is not None:
        query = query.where(audit_records.c.outcome == outcome)
    if since is not None:
        query = query.where(audit_records.c.at >= since)
    if until is not None:
        query = query.where(audit_records.c.at < until)
    async with store.engine.connect() as db:
        rows = (await db.execute(query.order_by(audit_records.c.seq.desc()).limit(limit))).all()
    # Plain str keys: SQLAlchemy's are a str subclass some serializers refuse.
    return [{str(key): value for key, value in row._mapping.items()} for row in reversed(rows)]
