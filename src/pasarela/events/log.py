"""The durable event log in the state store: appended in order, each (source, id) once, read from
any retained position, swept by retention.

Positions are handed out under the head row's lock, inside the appending transaction, so they
are committed in the order they are given: a reader that has seen position n has seen every
event before it (with a sequence alone, a later position may commit before an earlier one and a
reader would skip it). On PostgreSQL the append's `pg_notify` wakes every replica's tail when
the transaction commits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import orjson
from sqlalchemy import Connection, Engine, delete, func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from pasarela import jsonsafe
from pasarela.events.model import Appended, Event, NewEvent
from pasarela.state import StateStore
from pasarela.state.store import READ_ONLY
from pasarela.state.tables import event_head, event_positions, events

CHANNEL = "pasarela_events"  # PostgreSQL NOTIFY: "the log has new events"
_e = events.c
_h = event_head.c
_p = event_positions.c
COLUMNS = (
    _e.seq,
    _e.source,
    _e.event_id,
    _e.type,
    _e.time,
    _e.data,
    _e.subject,
    _e.dataschema,
    _e.ingested_at,
)


class _Row:
    """A row about to be inserted, read as the log's rows are."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _event(row: Any) -> Event:
    return Event(
        seq=int(row.seq),
        source=row.source,
        id=row.event_id,
        type=row.type,
        time=row.time,
        data=orjson.loads(row.data),
        subject=row.subject,
        dataschema=row.dataschema,
        ingested_at=float(row.ingested_at),
    )


def _append_in(db: Connection, new: Sequence[NewEvent], now: float) -> list[Appended]:
    """The append, in the caller's transaction: the head row locked, positions handed out."""
    keys = list(dict.fromkeys((e.source, e.id) for e in new))
    head = db.execute(select(_h.last_seq).where(_h.id == 1).with_for_update()).scalar()
    if head is None:
        raise RuntimeError("the event log's head row is missing")
    last = int(head)
    found = db.execute(select(_e.source, _e.event_id, _e.seq).where(tuple_(_e.source, _e.event_id).in_(keys)))
    known: dict[tuple[str, str], int] = {(r.source, r.event_id): int(r.seq) for r in found}
    stored = dict(known)
    rows = []
    made: dict[tuple[str, str], Event] = {}
    for event in new:
        key = (event.source, event.id)
        if key in stored:
            continue
        last += 1
        stored[key] = last
        row = {
            "seq": last,
            "source": event.source,
            "event_id": event.id,
            "type": event.type,
            "subject": event.subject,
            "time": event.time,
            "dataschema": event.dataschema,
            "data": jsonsafe.dumps(event.data).decode(),
            "ingested_at": now,
        }
        rows.append(row)
        made[key] = _event(_Row(row))  # exactly what a read of the log would give
    if rows:
        db.execute(events.insert(), rows)
        db.execute(update(event_head).where(_h.id == 1).values(last_seq=last))
        if db.dialect.name == "postgresql":
            db.execute(text("SELECT pg_notify(:channel, :seq)"), {"channel": CHANNEL, "seq": str(last)})
    first_seen: set[tuple[str, str]] = set()
    results = []
    for event in new:
        key = (event.source, event.id)
        duplicate = key in known or key in first_seen
        first_seen.add(key)
        results.append(Appended(stored[key], duplicate, None if duplicate else made[key]))
    return results


def _append_blocking(engine: Engine, new: Sequence[NewEvent], now: float) -> list[Appended]:
    with engine.begin() as db:
        return _append_in(db, new, now)


def _read_blocking(engine: Engine, query: Any) -> list[Event]:
    with engine.connect() as db:
        reading = db.execution_options(**{READ_ONLY: True})
        return [_event(row) for row in reading.execute(query)]


class EventLog:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        # SQLite has one writer at a time; appends of this process take turns rather than
        # racing on the file lock's back-off.
        self._turns = asyncio.Lock() if store.dialect == "sqlite" else contextlib.nullcontext()
        self._head_ready = False
        self._head_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._turns, self.store.engine.begin() as db:
            yield db

    async def append(self, new: Sequence[NewEvent], now: float | None = None) -> list[Appended]:
        """Store `new` in order, each (source, id) once; one result per event given."""
        if not new:
            return []
        now = time.time() if now is None else now
        if not self._head_ready:
            await self._ensure_head()
        blocking = self.store.blocking()
        if blocking is not None:  # SQLite: the whole transaction in one worker thread, one hop
            async with self._turns:
                return await anyio.to_thread.run_sync(_append_blocking, blocking, new, now)
        async with self._write() as db:
            return await db.run_sync(_append_in, new, now)

    async def _ensure_head(self) -> None:
        """Made once, committed on its own before any append: a row another transaction is still
        inserting is invisible to a concurrent FOR UPDATE, which would then read no head at all."""
        async with self._head_lock:
            if self._head_ready:
                return
            async with self.store.engine.begin() as db:
                await db.execute(
                    self.store.insert(event_head).on_conflict_do_nothing(index_elements=["id"]),
                    {"id": 1, "last_seq": 0},
                )
            self._head_ready = True

    async def read(self, after: int, limit: int) -> list[Event]:
        """Up to `limit` events after position `after`, in order."""
        query = select(*COLUMNS).where(_e.seq > after).order_by(_e.seq).limit(limit)
        blocking = self.store.blocking()
        if blocking is not None:
            return await anyio.to_thread.run_sync(_read_blocking, blocking, query)
        async with self.store.reading() as db:
            return [_event(row) for row in await db.execute(query)]

    async def head(self) -> int:
        """The last position stored (0: none yet)."""
        async with self.store.reading() as db:
            value = (await db.execute(select(_h.last_seq).where(_h.id == 1))).scalar()
        return int(value or 0)

    async def bounds(self) -> tuple[int, int]:
        """(the oldest position kept, the last position stored); oldest is last + 1 when empty."""
        async with self.store.reading() as db:
            oldest = (await db.execute(select(func.min(_e.seq)))).scalar()
            last = (await db.execute(select(_h.last_seq).where(_h.id == 1))).scalar()
        last_seq = int(last or 0)
        return (int(oldest) if oldest is not None else last_seq + 1), last_seq

    async def sweep(self, older_than: float) -> int:
        """Delete events stored before `older_than` (retention); how many went."""
        async with self._write() as db:
            done = await db.execute(delete(events).where(_e.ingested_at < older_than))
        return int(done.rowcount or 0)

    async def count(self) -> int:
        async with self.store.reading() as db:
            return int((await db.execute(select(func.count()).select_from(events))).scalar() or 0)


class Positions:
    """Where each reader is (a source's offset, a subscriber's cursor) and who holds a source."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def get(self, name: str) -> str | None:
        async with self.store.reading() as db:
            return (await db.execute(select(_p.position).where(_p.name == name))).scalar()

    async def set(self, name: str, position: str, db: AsyncConnection | None = None) -> None:
        statement = (
            self.store.insert(event_positions)
            .values(name=name, position=position, updated_at=time.time())
            .on_conflict_do_update(
                index_elements=["name"], set_={"position": position, "updated_at": time.time()}
            )
        )
        if db is not None:
            await db.execute(statement)
            return
        async with self.store.engine.begin() as fresh:
            await fresh.execute(statement)

    async def hold(self, name: str, owner: str, lease: float, now: float | None = None) -> bool:
        """Take or renew `owner`'s lease on `name` (one reader per source); whether it holds it."""
        now = time.time() if now is None else now
        async with self.store.engine.begin() as db:
            await db.execute(
                self.store.insert(event_positions)
                .values(name=name, position=None, owner=None, lease_until=0.0, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            taken = await db.execute(
                update(event_positions)
                .where(
                    _p.name == name,
                    (_p.owner == owner) | (_p.owner.is_(None)) | (_p.lease_until < now),
                )
                .values(owner=owner, lease_until=now + lease)
            )
        return bool(taken.rowcount)

    async def release(self, name: str, owner: str) -> None:
        async with self.store.engine.begin() as db:
            await db.execute(
                update(event_positions)
                .where(_p.name == name, _p.owner == owner)
                .values(owner=None, lease_until=0.0)
            )
