"""Change data capture end to end: PostgreSQL logical decoding (pgoutput through a replication
slot, confirmed only after storing) and polling on SQLite and MariaDB."""

# ruff: noqa: S608 - the tests build SQL for their own tables, named by the test
from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path

import anyio
import pytest

from pasarela.assembly import Runtime
from tests.conftest import POSTGRES_URL, need_service
from tests.events.support import config_text, drop_cdc_objects, gateway, replication_slot_made, write

pytestmark = pytest.mark.anyio

MARIADB_URL = os.environ.get("PASARELA_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")
RULES = """      events:
        - {type: transaction_booked, when: "op == 'c'", subject: after.account_id, data: "{account_id: after.account_id, amount: after.amount, table: source.table}"}
"""


async def events_of(runtime: Runtime, count: int) -> list[dict[str, object]]:
    with anyio.fail_after(30):
        while await runtime.events.log.count() < count:  # noqa: ASYNC110 - the source writes to the store
            await anyio.sleep(0.05)
    return [{"id": e.id, "subject": e.subject, **e.data} for e in await runtime.events.log.read(0, 100)]


async def postgres_ready() -> str | None:
    import asyncpg

    try:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable ({type(exc).__name__})"
    try:
        level = await connection.fetchval("SHOW wal_level")
    finally:
        await connection.close()
    if level != "logical":
        return f"PostgreSQL runs with wal_level={level}: run .ci/postgres-logical (logical decoding needs it)"
    return None


async def test_postgres_logical_decoding(tmp_path: Path) -> None:
    import asyncpg

    need_service(await postgres_ready())
    tag = secrets.token_hex(3)
    table, slot, publication = f"cdc_tx_{tag}", f"pasarela_{tag}", f"pasarela_{tag}"
    db = await asyncpg.connect(POSTGRES_URL)
    await db.execute(f"CREATE TABLE {table} (id serial primary key, account_id text, amount numeric(12,2))")
    source = (
        f"    ledger_db:\n      postgres_cdc: {{url: '{POSTGRES_URL}', slot: {slot}, publication: {publication}, "
        f"tables: [{table}], poll_interval: 50ms}}\n"
    )
    text = config_text(f"sqlite:///{tmp_path / 's.db'}", extra_sources=source + RULES)
    try:
        async with gateway(write(tmp_path, text)) as (_, runtime):
            await replication_slot_made(db, slot)
            await db.execute(
                f"INSERT INTO {table} (account_id, amount) VALUES ('ACC-1001', 12.50), ('ACC-1002', 7)"
            )
            await db.execute(f"UPDATE {table} SET amount = 13 WHERE account_id = 'ACC-1001'")  # op u: no rule
            found = await events_of(runtime, 2)
            assert [(e["subject"], e["amount"], e["table"]) for e in found] == [
                ("ACC-1001", "12.50", table),
                ("ACC-1002", "7.00", table),
            ]
            assert found[0]["id"] != found[1]["id"]
            [change] = await runtime.events.log.read(0, 1)
            assert change.type == "transaction_booked"
            with anyio.fail_after(10):  # confirmed past what was stored (the update included)
                while await db.fetchval(  # noqa: ASYNC110
                    "SELECT count(*) FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)",
                    slot,
                    publication,
                ):
                    await anyio.sleep(0.05)
        # Restarted: nothing is read twice, and what happened meanwhile arrives.
        await db.execute(f"INSERT INTO {table} (account_id, amount) VALUES ('ACC-1003', 1)")
        async with gateway(write(tmp_path, text)) as (_, runtime):
            found = await events_of(runtime, 3)
            assert [e["subject"] for e in found] == ["ACC-1001", "ACC-1002", "ACC-1003"]
    finally:
        await drop_cdc_objects(db, slot, publication, table)
        await db.close()


async def test_sqlite_polling(tmp_path: Path) -> None:
    bank = tmp_path / "bank.db"
    with sqlite3.connect(bank) as db:
        db.execute("CREATE TABLE tx (seq INTEGER PRIMARY KEY, account_id TEXT, amount REAL)")
        db.execute("INSERT INTO tx (account_id, amount) VALUES ('ACC-1001', 5.5), ('ACC-1002', 8)")
    source = f"    ledger_db:\n      sql_polling: {{url: 'sqlite:///{bank}', table: tx, cursor_column: seq, poll_interval: 50ms}}\n"
    text = config_text(f"sqlite:///{tmp_path / 's.db'}", extra_sources=source + RULES)
    async with gateway(write(tmp_path, text)) as (_, runtime):
        found = await events_of(runtime, 2)
        assert [(e["subject"], e["amount"]) for e in found] == [("ACC-1001", 5.5), ("ACC-1002", 8.0)]
    with sqlite3.connect(bank) as db:
        db.execute("INSERT INTO tx (account_id, amount) VALUES ('ACC-1003', 1)")
    async with gateway(write(tmp_path, text)) as (_, runtime):
        found = await events_of(runtime, 3)
        assert [e["subject"] for e in found] == ["ACC-1001", "ACC-1002", "ACC-1003"], "resumed, nothing twice"


async def test_sqlite_polling_without_a_snapshot_starts_past_the_rows_already_there(tmp_path: Path) -> None:
    bank = tmp_path / "bank.db"
    with sqlite3.connect(bank) as db:
        db.execute("CREATE TABLE tx (booked_at TEXT, id TEXT PRIMARY KEY, account_id TEXT, amount REAL)")
        db.execute(
            "CREATE TABLE empty_tx (booked_at TEXT, id TEXT PRIMARY KEY, account_id TEXT, amount REAL)"
        )
        db.execute(
            "INSERT INTO tx VALUES ('2026-11-01T10:00:00', 'T1', 'ACC-1001', 5.5), "
            "('2026-11-01T10:00:00', 'T2', 'ACC-1002', 8)"
        )
    polling = "{{url: 'sqlite:///{bank}', table: {table}, cursor_column: booked_at, key_column: id, snapshot: false, poll_interval: 50ms}}"
    source = (
        f"    ledger_db:\n      sql_polling: {polling.format(bank=bank, table='tx')}\n{RULES}"
        f"    empty_db:\n      sql_polling: {polling.format(bank=bank, table='empty_tx')}\n{RULES}"
    )
    text = config_text(f"sqlite:///{tmp_path / 's.db'}", extra_sources=source)
    async with gateway(write(tmp_path, text)) as (_, runtime):
        positions = runtime.events.core.positions
        with anyio.fail_after(30):  # both sources have taken their starting position
            for name in ("source:ledger_db", "source:empty_db"):
                while await positions.get(name) is None:  # noqa: ASYNC110 - another task writes it
                    await anyio.sleep(0.05)
        with sqlite3.connect(bank) as db:
            # Same timestamp as the last row there, a later key: new (the key breaks the tie).
            db.execute("INSERT INTO tx VALUES ('2026-11-01T10:00:00', 'T3', 'ACC-1003', 1)")
            db.execute("INSERT INTO empty_tx VALUES ('2026-10-01T00:00:00', 'E1', 'ACC-2001', 2)")
        found = await events_of(runtime, 2)
        assert sorted(str(e["subject"]) for e in found) == ["ACC-1003", "ACC-2001"], (
            "what was there is history"
        )
    async with gateway(write(tmp_path, text)) as (_, runtime):
        await anyio.sleep(0.5)
        assert await runtime.events.log.count() == 2, "a restart does not take a new starting point"


async def test_a_table_made_again_rejoins_its_publication(tmp_path: Path) -> None:
    import asyncpg

    need_service(await postgres_ready())
    tag = secrets.token_hex(3)
    table, slot = f"cdc_again_{tag}", f"pasarela_again_{tag}"
    db = await asyncpg.connect(POSTGRES_URL)
    await db.execute(f"CREATE TABLE {table} (id serial primary key, account_id text, amount numeric(12,2))")
    await db.execute(f"CREATE PUBLICATION {slot} FOR TABLE {table}")
    await db.execute(f"DROP TABLE {table}")  # leaves the publication, which stays
    await db.execute(f"CREATE TABLE {table} (id serial primary key, account_id text, amount numeric(12,2))")
    source = (
        f"    ledger_db:\n      postgres_cdc: {{url: '{POSTGRES_URL}', slot: {slot}, publication: {slot}, "
        f"tables: [{table}], poll_interval: 50ms}}\n"
    )
    text = config_text(f"sqlite:///{tmp_path / 's.db'}", extra_sources=source + RULES)
    try:
        async with gateway(write(tmp_path, text)) as (_, runtime):
            await replication_slot_made(db, slot)
            await db.execute(f"INSERT INTO {table} (account_id, amount) VALUES ('ACC-1001', 1)")
            [found] = await events_of(runtime, 1)
            assert found["subject"] == "ACC-1001"
    finally:
        await drop_cdc_objects(db, slot, slot, table)
        await db.close()


async def test_mariadb_polling_with_a_timestamp_and_a_key(tmp_path: Path) -> None:
    from sqlalchemy import text as sql
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import create_async_engine

    table = f"cdc_{secrets.token_hex(3)}"
    engine = create_async_engine(MARIADB_URL.replace("mysql://", "mysql+aiomysql://"))
    try:
        async with engine.begin() as db:
            await db.execute(
                sql(
                    f"CREATE TABLE {table} (id INT PRIMARY KEY, account_id VARCHAR(20), amount DECIMAL(10,2), changed_at DATETIME(3))"
                )
            )
            await db.execute(
                sql(
                    f"INSERT INTO {table} VALUES (1, 'ACC-1', 1.00, '2026-11-30 10:00:00'), "
                    f"(2, 'ACC-2', 2.00, '2026-11-30 10:00:00'), (3, 'ACC-3', 3.00, '2026-11-30 10:00:01')"
                )
            )
    except (SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        need_service(f"MariaDB at {MARIADB_URL} is not reachable ({type(exc).__name__})")
        return
    source = (
        f"    ledger_db:\n      sql_polling: {{url: '{MARIADB_URL}', table: {table}, cursor_column: changed_at, "
        "key_column: id, poll_interval: 50ms, batch: 2}\n"
    )
    try:
        text = config_text(f"sqlite:///{tmp_path / 's.db'}", extra_sources=source + RULES)
        async with gateway(write(tmp_path, text)) as (_, runtime):
            found = await events_of(runtime, 3)
            assert [(e["subject"], e["amount"]) for e in found] == [
                ("ACC-1", "1.00"),
                ("ACC-2", "2.00"),
                ("ACC-3", "3.00"),
            ]
    finally:
        async with engine.begin() as db:
            await db.execute(sql(f"DROP TABLE {table}"))
        await engine.dispose()
