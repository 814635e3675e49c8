"""Schema migrations of the state store, with Alembic (SQLite and PostgreSQL alike).

A fresh store is created at the newest revision. A store made before migrations existed holds
the baseline tables and is stamped as the baseline. A store behind this version of Pasarela
is refused at start with the command that upgrades it (`pasarela state migrate`): changing a
schema that holds an audit trail is an operator's decision, taken after a backup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import column, inspect, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPTS = Path(__file__).parent / "migrations"
BASELINE = "0001"
# The newest revision, so that opening a current store needs neither Alembic nor its scripts
# (importing them costs a quarter of a second); a test holds it equal to the scripts' head.
HEAD = "0007"
# Our own version table: a PostgreSQL database may hold another application's `alembic_version`.
VERSION_TABLE = "pasarela_alembic_version"
_LOCK_ID = 0x70617361  # "pasa": replicas starting together migrate one at a time


def ours(name: str | None, kind: str, parent: object) -> bool:
    """Alembic's `include_name`: the database may hold other applications' tables."""
    return kind != "table" or bool(name and name.startswith("pasarela_"))


@dataclass(frozen=True, slots=True)
class Revision:
    current: str | None  # None: an empty store
    head: str
    pending: tuple[str, ...]  # oldest first
    stamped: bool  # the store records its revision (stores made before migrations do not)

    @property
    def behind(self) -> bool:
        return bool(self.pending)


def _config(connection: Any) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def _status(connection: Any) -> Revision:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config(connection))
    head = script.get_current_head()
    assert head is not None
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    current = context.get_current_revision()
    stamped = current is not None
    if current is None:
        current = _unversioned(connection)
    revisions = script.iterate_revisions(head, current) if current != head else ()
    pending = tuple(reversed([r.revision for r in revisions if r.revision != current]))
    if current is None:
        pending = tuple(reversed([r.revision for r in script.iterate_revisions(head, "base")]))
    return Revision(current, head, pending, stamped)


def _unversioned(connection: Any) -> str | None:
    """The revision a store without a version table is at, read from its tables: None if it has
    none of ours; else the baseline (made by create_all before migrations), or the newest
    revision whose tables or audit columns it already has (made by create_all after a table was
    dropped)."""
    inspector = inspect(connection)
    tables = inspector.get_table_names()
    if not any(t.startswith("pasarela_") for t in tables):
        return None
    columns = (
        {c["name"] for c in inspector.get_columns("pasarela_audit")} if "pasarela_audit" in tables else set()
    )
    if "conversation" in columns:
        return "0007"
    if "pasarela_events" in tables:
        return "0006"
    if "pasarela_webhook_deliveries" in tables:
        return "0005"
    if "pasarela_jobs" in tables:
        return "0004"
    if "trace_id" in columns:
        return "0003"
    if "parent_id" in columns:
        return "0002"
    return BASELINE


def _upgrade(connection: Any, upgrade: bool = True) -> list[str]:
    """Stamp an unversioned store with the revision its tables show; with `upgrade`, apply what
    is pending. The revisions applied."""
    from alembic import command

    status = _status(connection)
    config = _config(connection)
    if status.current is not None and not status.stamped:
        command.stamp(config, status.current)
    if not upgrade:
        return []
    command.upgrade(config, "head")
    return list(status.pending)


def _stamped(connection: Any) -> str | None:
    """The revision the store records, read with plain SQL."""
    if VERSION_TABLE not in inspect(connection).get_table_names():
        return None
    found = connection.execute(select(column("version_num")).select_from(table(VERSION_TABLE))).scalar()
    return None if found is None else str(found)


async def _lock(connection: AsyncConnection) -> None:
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})


async def revision(connection: AsyncConnection) -> Revision:
    return await connection.run_sync(_status)


async def prepare(connection: AsyncConnection, *, allow_upgrade: bool) -> tuple[Revision, list[str]]:
    """At start: create a fresh store, stamp an unversioned one, upgrade one that is behind only
    when allowed. The revision found, and the migrations applied."""
    await _lock(connection)
    if await connection.run_sync(_stamped) == HEAD:
        return Revision(HEAD, HEAD, (), stamped=True), []
    status = await revision(connection)
    if status.current is None or (allow_upgrade and status.behind):
        return status, await connection.run_sync(_upgrade)  # creating, or upgrading when asked
    if not status.stamped:
        await connection.run_sync(lambda c: _upgrade(c, upgrade=False))  # only stamping
    return status, []
