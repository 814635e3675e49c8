"""The audit writer: records are queued by the call and written in batches (group commit).

One background task writes the queue. Each batch is one transaction that locks the chain's
head row, so replicas sharing PostgreSQL extend one chain, and a batch is written whole or not
at all. A call that must be durable (`submit(..., durable=True)`) gets a future that resolves
once the batch holding its record is committed; such a call wakes the writer at once, and every
record queued meanwhile joins the same commit.

A record the database refuses (a data error, not an outage) is isolated: the batch is retried
record by record and the refused one is stored as a stand-in that keeps who, when and the
outcome. If even the stand-in is refused, the database itself is the problem: nothing is
dropped, the writer reports itself unhealthy and keeps retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from pasarela.audit.anchors import AnchorLog
from pasarela.audit.chain import GENESIS, checkpoint_signature, record_hash
from pasarela.audit.fitting import fit, stand_in
from pasarela.state import StateStore
from pasarela.state.tables import audit_checkpoints, audit_head, audit_records

log = structlog.get_logger("pasarela.audit")

# Records kept in memory while the database is unreachable; beyond this the oldest are
# dropped (and counted), rather than letting memory grow without end.
MAX_PENDING = 100_000
RETRY_INTERVAL = 1.0


class AuditLost(Exception):
    """A durable record could not be committed (dropped from a full queue, or the drain gave up)."""


@dataclass(slots=True)
class _Entry:
    record: dict[str, Any]
    committed: asyncio.Future[None] | None


class AuditWriter:
    def __init__(
        self,
        store: StateStore,
        *,
        flush_interval: float = 0.2,
        batch_size: int = 500,
        checkpoint_key: bytes | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 1.0,
        anchors: AnchorLog | None = None,
        drain_timeout: float = 10.0,
        stall_after: float = 5.0,
    ) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.checkpoint_key = checkpoint_key
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self.anchors = anchors
        self.drain_timeout = drain_timeout
        self.stall_after = stall_after
        self._pending: deque[_Entry] = deque()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._oldest_at = 0.0
        self._since_checkpoint = 0
        self._last_checkpoint_at = time.monotonic()
        self._failing = False  # the last write failed (the records went back to the queue)
        self._writing_since: float | None = None
        self.batches = 0  # observable: round trips, not calls
        self.dropped = 0
        self.stand_ins = 0

    async def start(self) -> None:
        async with self.store.engine.begin() as db:
            await db.execute(
                self.store.insert(audit_head)
                .values(id=1, last_seq=0, last_hash=GENESIS)
                .on_conflict_do_nothing(index_elements=["id"])
            )
        if self.anchors is not None:
            self.anchors.create()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pasarela-audit-writer")

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def healthy(self) -> bool:
        """Whether records reach the database: readiness and refusals follow this.

        Unhealthy from a failed write, a write hanging longer than `stall_after`, or a call that
        gave up waiting for its commit, until a write succeeds again.
        """
        if self._failing:
            return False
        started = self._writing_since
        return started is None or time.monotonic() - started < self.stall_after

    def report_stall(self) -> None:
        """A caller gave up waiting for its record's commit: treat the database as stuck."""
        self._failing = True

    def submit(self, record: dict[str, Any], *, durable: bool = False) -> asyncio.Future[None] | None:
        """Queue one record (fields as in `audit_records`, without seq and hashes).

        With `durable`, returns a future resolved when the record is committed.
        """
        if len(self._pending) >= MAX_PENDING:
            lost = self._pending.popleft()
            self.dropped += 1
            if lost.committed is not None and not lost.committed.done():
                lost.committed.set_exception(AuditLost("the audit queue overflowed"))
        committed = asyncio.get_running_loop().create_future() if durable else None
        if not self._pending:
            self._oldest_at = time.monotonic()
        self._pending.append(_Entry(record, committed))
        self._wake.set()
        if durable or len(self._pending) >= self.batch_size:
            self._hurry.set()
        return committed

    async def _run(self) -> None:
        while True:
            await self._sleep_until_due()
            try:
                if self._pending:
                    await self.flush()
                elif self._checkpoint_due(self._since_checkpoint):
                    await self._checkpoint_head()
            except (SQLAlchemyError, OSError) as exc:
                log.error("audit_write_failed", error=type(exc).__name__, pending=len(self._pending))
                await asyncio.sleep(RETRY_INTERVAL)

    async def _sleep_until_due(self) -> None:
        if not self._pending:
            self._wake.clear()
            # Idle: wake for a record, or when the unanchored tail is due for a signed checkpoint.
            timeout = self.checkpoint_interval if self._since_checkpoint and self.checkpoint_key else None
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return
        if not self._hurry.is_set():  # no one waits for a commit: gather up to flush_interval
            due = self._oldest_at + self.flush_interval - time.monotonic()
            if due > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), due)
        self._hurry.clear()

    async def flush(self) -> None:
        """Write everything queued now; raises (keeping the records queued) if the database cannot."""
        async with self._lock:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(self.batch_size, len(self._pending)))]
                self._writing_since = time.monotonic()
                try:
                    try:
                        await self._write([fit(entry.record) for entry in batch])
                    except SQLAlchemyError as exc:
                        if _is_outage(exc):
                            raise
                        await self._write_one_by_one(batch)
                except BaseException:
                    self._pending.extendleft(reversed(batch))  # nothing was written: keep them, in order
                    self._failing = True
                    raise
                finally:
                    self._writing_since = None
                self._failing = False
                for entry in batch:
                    if entry.committed is not None and not entry.committed.done():
                        entry.committed.set_result(None)

    async def _write_one_by_one(self, batch: list[_Entry]) -> None:
        """Isolate the record(s) the database refuses; every other record is written as it was."""
        written = 0
        try:
            for entry in batch:
                record = fit(entry.record)
                try:
                    await self._write([record])
                except SQLAlchemyError as exc:
                    if _is_outage(exc):
                        raise
                    await self._write([stand_in(record, exc)])  # refused too: the database is the problem
                    self.stand_ins += 1
                    log.error(
                        "audit_record_refused",
                        error=type(exc).__name__,
                        request_id=record.get("request_id"),
                        tool=record.get("tool"),
                        hint="stored as a stand-in without its arguments",
                    )
                written += 1
        except BaseException:
            for entry in batch[:written]:  # those are in the chain: only the rest go back to the queue
                if entry.committed is not None and not entry.committed.done():
                    entry.committed.set_result(None)
            del batch[:written]
            raise

    def _checkpoint_due(self, uncovered: int) -> bool:
        """Whether `uncovered` records past the last signed checkpoint call for a new one."""
        if self.checkpoint_key is None or not uncovered:
            return False
        return (
            uncovered >= self.checkpoint_every
            or time.monotonic() - self._last_checkpoint_at >= self.checkpoint_interval
        )

    @staticmethod
    async def _head(db: Any) -> Any:
        """The chain's head row, locked for this transaction (replicas extend one chain)."""
        return (await db.execute(select(audit_head).where(audit_head.c.id == 1).with_for_update())).one()

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        signed: tuple[int, str, float, str] | None = None
        async with self.store.engine.begin() as db:
            head = await self._head(db)
            seq, chain = head.last_seq, head.last_hash
            chained = []
            for record in rows:
                seq += 1
                row = {**record, "seq": seq, "prev_hash": chain}
                chain = record_hash(chain, row)
                row["hash"] = chain
                chained.append(row)
            await db.execute(audit_records.insert(), chained)
            await db.execute(
                update(audit_head).where(audit_head.c.id == 1).values(last_seq=seq, last_hash=chain)
            )
            if self._checkpoint_due(self._since_checkpoint + len(chained)):
                signed = await self._sign(db, seq, chain)
        self._since_checkpoint = 0 if signed else self._since_checkpoint + len(chained)
        self.batches += 1
        if signed:
            await self._anchor(*signed)

    async def _checkpoint_head(self) -> None:
        """A signed checkpoint of the chain's head as it is now (no new records needed)."""
        async with self.store.engine.begin() as db:
            head = await self._head(db)
            signed = await self._sign(db, head.last_seq, head.last_hash) if head.last_seq else None
        self._since_checkpoint = 0
        self._last_checkpoint_at = time.monotonic()
        if signed:
            await self._anchor(*signed)

    async def _sign(self, db: Any, seq: int, chain: str) -> tuple[int, str, float, str]:
        assert self.checkpoint_key is not None
        at = time.time()
        signature = checkpoint_signature(self.checkpoint_key, seq, chain)
        # Another replica may have signed this very head already.
        await db.execute(
            self.store.insert(audit_checkpoints)
            .values(seq=seq, hash=chain, at=at, signature=signature)
            .on_conflict_do_nothing(index_elements=["seq"])
        )
        return seq, chain, at, signature

    async def _anchor(self, seq: int, chain: str, at: float, signature: str) -> None:
        """After the commit: an anchor for a record that was never committed would be a false alarm."""
        self._last_checkpoint_at = time.monotonic()
        # Also in the log: a second witness outside the database.
        log.info("audit_checkpoint", seq=seq, hash=chain, signature=signature)
        if self.anchors is not None:
            try:
                await asyncio.to_thread(self.anchors.append, seq, chain, at, signature)
            except OSError as exc:
                log.error("audit_anchor_failed", file=str(self.anchors.path), error=str(exc))

    async def aclose(self) -> None:
        """Stop the writer and drain the queue (retrying for up to `drain_timeout`)."""
        async with self._lock:  # never cancel the task in the middle of a transaction
            if self._task is not None:
                self._task.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        deadline = time.monotonic() + self.drain_timeout
        while True:
            try:
                await self.flush()
                if self._since_checkpoint and self.checkpoint_key is not None:
                    await self._checkpoint_head()  # the tail up to shutdown is anchored too
                return
            except (SQLAlchemyError, OSError) as exc:
                if time.monotonic() >= deadline:
                    log.error("audit_drain_failed", error=type(exc).__name__, lost=len(self._pending))
                    for entry in self._pending:
                        if entry.committed is not None and not entry.committed.done():
                            entry.committed.set_exception(AuditLost("the audit trail could not be written"))
                    return
                await asyncio.sleep(min(RETRY_INTERVAL, max(0.0, deadline - time.monotonic())))


def _is_outage(exc: SQLAlchemyError) -> bool:
    """The database could not be reached (retry later), as opposed to refusing these rows."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
