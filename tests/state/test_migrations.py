"""The state store migrates with Alembic: fresh, unversioned and behind stores, SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from pasarela.errors import ConfigError
from pasarela.state import StateStore, migrate, open_state
from pasarela.state.tables import metadata
from tests.helpers.processes import run_pasarela

pytestmark = pytest.mark.anyio

EXTRA_REVISION = '''"""A test-only revision: one more table.

Revision ID: 9001
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("pasarela_test_extra", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("pasarela_test_extra")
'''


async def store_at_0001(state_url: str, tmp_path: Path) -> StateStore:
    """A store whose schema is the first revision's (the file made first: reading makes none)."""
    from alembic import command

    if state_url.startswith("sqlite"):
        Path(state_url.removeprefix("sqlite:///")).touch()
    store = await open_state(state_url, tmp_path, schema="read")
    async with store.engine.begin() as db:
        await db.run_sync(lambda c: command.upgrade(migrate._config(c), "0001"))
    return store


BASELINE_COLUMNS = {
    "seq", "at", "request_id", "principal", "on_behalf_of", "door", "tool", "arguments", "decision",
    "policies", "outcome", "upstream_status", "latency_ms", "prev_hash", "hash",
}  # fmt: skip


def tables(connection: object) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_a_fresh_store_is_created_at_the_head_and_matches_the_tables(
    state_url: str, tmp_path: Path
) -> None:
    store = await open_state(state_url, tmp_path)
    async with store.engine.connect() as db:
        status = await migrate.revision(db)
        drift = await db.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(
                    c, opts={"version_table": migrate.VERSION_TABLE, "include_name": migrate.ours}
                ),
                metadata,
            )
        )
    await store.aclose()
    assert (status.current, status.behind, status.stamped) == (status.head, False, True)
    assert status.head == migrate.HEAD, "migrate.HEAD names the newest script"
    assert drift == [], "the migrations create exactly the tables in state/tables.py"


async def test_a_store_made_before_migrations_is_stamped_as_the_baseline(
    state_url: str, tmp_path: Path
) -> None:
    store = await store_at_0001(state_url, tmp_path)
    async with store.engine.begin() as db:  # the baseline's tables, as create_all left stores
        await db.execute(text(f"DROP TABLE {migrate.VERSION_TABLE}"))
    await store.aclose()
    with pytest.raises(ConfigError, match="at schema revision 0001, this Pasarela needs 0007"):
        await open_state(state_url, tmp_path)
    store = await open_state(state_url, tmp_path, schema="read")
    async with store.engine.connect() as db:
        status = await migrate.revision(db)
    await store.aclose()
    assert (status.current, status.stamped) == (migrate.BASELINE, True)
    assert status.pending == ("0002", "0003", "0004", "0005", "0006", "0007"), (
        "stamped as the baseline, then refused until migrated"
    )


async def test_a_store_behind_is_refused_until_migrated(
    state_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await open_state(state_url, tmp_path)  # at the head
    await store.aclose()
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9001_extra.py").write_text(EXTRA_REVISION)
    monkeypatch.setattr(migrate, "SCRIPTS", scripts)
    monkeypatch.setattr(migrate, "HEAD", "9001")
    try:
        with pytest.raises(
            ConfigError, match=r"at schema revision 0007, this Pasarela needs 9001: back it up"
        ):
            await open_state(state_url, tmp_path)
        store = await open_state(state_url, tmp_path, schema="upgrade")
        async with store.engine.connect() as db:
            assert "pasarela_test_extra" in await db.run_sync(tables)
            assert (await migrate.revision(db)).current == "9001"
        await store.aclose()
        store = await open_state(state_url, tmp_path)  # current now: opens without a word
    finally:
        async with store.engine.begin() as db:
            await db.execute(text("DROP TABLE IF EXISTS pasarela_test_extra"))
            await db.execute(text(f"DROP TABLE IF EXISTS {migrate.VERSION_TABLE}"))
        await store.aclose()


def test_cli_state_status_and_migrate(tmp_path: Path) -> None:
    config = tmp_path / "pasarela.yaml"
    config.write_text("version: 1\nstate: sqlite:///./state.db\nbackends: {}\naccess: {}\n")
    status = run_pasarela("state", "status", "-c", str(config))
    assert status.returncode == 0, status.stderr
    assert "revision: none (empty store)" in status.stdout, "status changes nothing"
    migrated = run_pasarela("state", "migrate", "-c", str(config))
    assert migrated.returncode == 0, migrated.stderr
    assert "applied: 0001, 0002, 0003, 0004, 0005, 0006, 0007; now at 0007" in migrated.stdout
    again = run_pasarela("state", "status", "-c", str(config))
    assert "revision: 0007" in again.stdout and "up to date" in again.stdout


async def test_a_trail_written_at_0001_survives_the_upgrade_and_still_verifies(
    state_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import Column, MetaData, Table, insert

    from pasarela.audit import AuditWriter, verify
    from pasarela.audit.chain import record_hash
    from pasarela.state.tables import audit_head, audit_records
    from tests.audit.test_audit import sample_record

    store = await store_at_0001(state_url, tmp_path)  # as Pasarela 0.1's first migration left it
    chain, rows = "0" * 64, []
    for seq in (1, 2, 3):  # the trail 0.1's writer wrote: the baseline's columns only
        row = {**sample_record(request_id=f"old-{seq}"), "seq": seq, "prev_hash": chain}
        chain = row["hash"] = record_hash(chain, row)
        rows.append(row)
    baseline = Table(
        "pasarela_audit",
        MetaData(),
        *(Column(c.name, c.type) for c in audit_records.columns if c.name in BASELINE_COLUMNS),
    )
    async with store.engine.begin() as db:
        await db.execute(insert(baseline), rows)
        await db.execute(insert(audit_head).values(id=1, last_seq=3, last_hash=chain))
    await store.aclose()
    with pytest.raises(ConfigError, match="at schema revision 0001, this Pasarela needs 0007"):
        await open_state(state_url, tmp_path)
    store = await open_state(state_url, tmp_path, schema="upgrade")
    assert store.migrated == ("0002", "0003", "0004", "0005", "0006", "0007")
    writer = AuditWriter(store, flush_interval=60)
    await writer.start()
    writer.submit(sample_record(request_id="new", parent_id="old-0", via="composite"))
    writer.submit(
        sample_record(
            request_id="traced", trace_id="0af7651916cd43dd8448eb211c80319c", backend="crm", cache="hit"
        )
    )
    await writer.aclose()
    verdict = await verify(store, None)
    await store.aclose()
    assert (verdict.ok, verdict.records) == (True, 5), verdict.message
