"""The audit writer: records are queued by the call and written in batches.

A call never waits for the database. Each batch is one transaction that locks the chain's
head row, so replicas sharing PostgreSQL extend one chain; a crash loses at most the records
not yet flushed and never breaks the chain (a batch is written whole or not at all).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from pasarela.audit.chain import GENESIS, checkpoint_signature, record_hash
from pasarela.state import StateStore
from pasarela.state.tables import audit_checkpoints, audit_head, audit_records

log = structlog.get_logger("pasarela.audit")

# Records kept in memory while the database is unreachable; beyond this the oldest are
# dropped (and counted), rather than letting memory grow without end.
MAX_PENDING = 100_000


class AuditWriter:
    def __init__(
        self,
        store: StateStore,
        *,
        flush_interval: float = 0.2,
        batch_size: int = 500,
        checkpoint_key: bytes | None = None,
        checkpoint_every: int = 1000,
    ) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.checkpoint_key = checkpoint_key
        self.checkpoint_every = checkpoint_every
        self._pending: deque[dict[str, Any]] = deque()
        self._lock = asyncio.Lock()
        self._scheduled: asyncio.Task[None] | None = None
        self._since_checkpoint = 0
        self.batches = 0  # observable: round trips, not calls
        self.dropped = 0

    async def start(self) -> None:
        async with self.store.engine.begin() as db:
            await db.execute(
                self.store.insert(audit_head)
                .values(id=1, last_seq=0, last_hash=GENESIS)
                .on_conflict_do_nothing(index_elements=["id"])
            )

    def submit(self, record: dict[str, Any]) -> None:
        """Queue one record (fields as in `audit_records`, without seq and hashes)."""
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(record)
        if len(self._pending) >= self.batch_size:
            self._schedule(0.0)
        else:
            self._schedule(self.flush_interval)

    def _schedule(self, delay: float) -> None:
        if self._scheduled is not None and not self._scheduled.done():
            if delay > 0:
                return
            self._scheduled.cancel()
        self._scheduled = asyncio.get_running_loop().create_task(self._flush_after(delay))

    async def _flush_after(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        try:
            await self.flush()
        except SQLAlchemyError as exc:
            log.error("audit_flush_failed", error=type(exc).__name__, pending=len(self._pending))
            self._schedule(max(self.flush_interval, 1.0))

    async def flush(self) -> None:
        async with self._lock:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(self.batch_size, len(self._pending)))]
                try:
                    await self._write(batch)
                except BaseException:
                    self._pending.extendleft(reversed(batch))  # nothing was written: keep them, in order
                    raise

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        async with self.store.engine.begin() as db:
            head = (await db.execute(select(audit_head).where(audit_head.c.id == 1).with_for_update())).one()
            seq, chain = head.last_seq, head.last_hash
            rows = []
            for record in batch:
                seq += 1
                row = {**record, "seq": seq, "prev_hash": chain}
                chain = record_hash(chain, row)
                row["hash"] = chain
                rows.append(row)
            await db.execute(audit_records.insert(), rows)
            await db.execute(
                update(audit_head).where(audit_head.c.id == 1).values(last_seq=seq, last_hash=chain)
            )
            self._since_checkpoint += len(rows)
            if self.checkpoint_key is not None and self._since_checkpoint >= self.checkpoint_every:
                signature = checkpoint_signature(self.checkpoint_key, seq, chain)
                await db.execute(
                    audit_checkpoints.insert().values(
                        seq=seq, hash=chain, at=time.time(), signature=signature
                    )
                )
                self._since_checkpoint = 0
                # Also in the log: a witness outside the database that truncation cannot reach.
                log.info("audit_checkpoint", seq=seq, hash=chain, signature=signature)
        self.batches += 1

    async def aclose(self) -> None:
        if self._scheduled is not None and not self._scheduled.done():
            self._scheduled.cancel()
        await self.flush()
