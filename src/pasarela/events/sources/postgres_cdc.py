"""Log-based change data capture from PostgreSQL: logical decoding with the built-in `pgoutput`
plugin, read through the replication slot's SQL functions (see docs/decisions.md).

Changes are peeked (`pg_logical_slot_peek_binary_changes`), whole transactions at a time,
turned into Debezium-style changes, stored, and only then is the slot confirmed past them
(`pg_replication_slot_advance`): a crash in between reads them again, and their ids (commit
LSN and place) store them once. One process reads a slot at a time (a lease in the state
store); the others wait to take over."""

from __future__ import annotations

import os
import socket
from typing import Any

import anyio
import structlog

from pasarela.config.events import EventSourceSettings, PostgresCdcSettings
from pasarela.events.service import Events
from pasarela.events.sources.consumers import Ingest
from pasarela.events.sources.pgoutput import Decoder, lsn_text

log = structlog.get_logger("pasarela.events")
LEASE = 15.0
PEEK = (
    "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, "
    "'proto_version', '1', 'publication_names', $3)"
)


def _quoted(table: str) -> str:
    return ".".join(f'"{part}"' for part in table.split("."))


async def prepare(db: Any, settings: PostgresCdcSettings) -> None:
    """The publication and the slot, created when missing; listed tables send whole old rows."""
    level = await db.fetchval("SHOW wal_level")
    if level != "logical":
        raise RuntimeError(
            f"wal_level is {level}: logical decoding needs wal_level=logical (ALTER SYSTEM SET "
            "wal_level = logical, then restart PostgreSQL; .ci/postgres-logical does both)"
        )
    for table in settings.tables:
        await db.execute(f"ALTER TABLE {_quoted(table)} REPLICA IDENTITY FULL")  # `before` is the whole row
    if not await db.fetchval("SELECT 1 FROM pg_publication WHERE pubname = $1", settings.publication):
        tables = ", ".join(_quoted(t) for t in settings.tables)
        if not tables:
            raise RuntimeError(
                f"publication {settings.publication!r} does not exist: list its tables in `tables:`"
            )
        await db.execute(f'CREATE PUBLICATION "{settings.publication}" FOR TABLE {tables}')
    else:  # a table dropped and made again has left the publication: put it back
        published = {
            f"{row['schemaname']}.{row['tablename']}"
            for row in await db.fetch(
                "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1",
                settings.publication,
            )
        }
        for table in settings.tables:
            name = table if "." in table else f"public.{table}"
            if name not in published:
                await db.execute(f'ALTER PUBLICATION "{settings.publication}" ADD TABLE {_quoted(table)}')
    if not await db.fetchval("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", settings.slot):
        await db.execute("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", settings.slot)


async def consume(name: str, source: EventSourceSettings, ingest: Ingest, events: Events) -> None:
    import asyncpg

    settings = source.postgres_cdc
    assert settings is not None
    positions = events.core.positions
    owner = f"{socket.gethostname()[:40]}:{os.getpid()}"
    lease = f"source:{name}"
    while not await positions.hold(lease, owner, LEASE):  # noqa: ASYNC110 - another process holds the slot
        await anyio.sleep(LEASE / 3)
    connection = await asyncpg.connect(settings.url.get_secret_value(), timeout=10)
    try:
        await prepare(connection, settings)
        decoder = Decoder(await connection.fetchval("SELECT current_database()"))
        held_until = anyio.current_time() + LEASE / 3
        while True:
            if anyio.current_time() > held_until:
                if not await positions.hold(lease, owner, LEASE):
                    log.warning("event_source_lease_lost", source=name)
                    return
                held_until = anyio.current_time() + LEASE / 3
            rows = await connection.fetch(PEEK, settings.slot, settings.batch, settings.publication)
            batch: list[tuple[Any, str | None]] = []
            confirm: int | None = None
            for row in rows:
                changes, end = decoder.feed(bytes(row["data"]))
                batch.extend((c.change, c.id) for c in changes)
                confirm = end if end is not None else confirm
            if batch:
                await ingest(batch)
            if confirm is not None:
                await connection.execute(
                    "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn)",
                    settings.slot,
                    lsn_text(confirm),
                )
            if not rows:
                await anyio.sleep(settings.poll_interval)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await connection.close()
            await positions.release(lease, owner)
