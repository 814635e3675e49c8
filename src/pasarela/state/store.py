"""The durable state store, chosen by URL from an explicit registry of backends.

`sqlite:///./pasarela.db` (the embedded default, relative to the configuration file) or
`postgresql://user@host/db` (shared by replicas). An unknown scheme is a ConfigError naming it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pasarela.errors import ConfigError, ConfigProblem
from pasarela.state.migrate import Revision, prepare, revision
from pasarela.state.tables import metadata

SchemaMode = Literal["check", "upgrade", "read"]


def _sqlite(url: str, base_dir: Path) -> str:
    parsed = make_url(url)
    database = parsed.database or "pasarela.db"
    if database != ":memory:":
        path = Path(database).expanduser()
        database = str(path if path.is_absolute() else (base_dir / path).resolve())
    return str(parsed.set(drivername="sqlite+aiosqlite", database=database))


def _missing_file(address: str) -> bool:
    database = make_url(address).database
    return database not in (None, ":memory:") and not Path(database).exists()


def _postgresql(url: str, base_dir: Path) -> str:
    return str(make_url(url).set(drivername="postgresql+asyncpg"))


STATE_BACKENDS: dict[str, Callable[[str, Path], str]] = {"sqlite": _sqlite, "postgresql": _postgresql}


READ_ONLY = "pasarela_read_only"  # an execution option: this connection only reads


def _serialize_sqlite_writers(engine: AsyncEngine | Engine) -> None:
    """Take SQLite's write lock when a transaction begins (BEGIN IMMEDIATE).

    With the default deferred transactions two writers that both read first deadlock when
    they upgrade; an immediate transaction waits (up to the connect timeout) instead. WAL lets
    readers go on while one writes.
    """

    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL syncs at checkpoints rather than at every commit: a process crash
        # loses nothing committed; a power cut may lose the last commits, never the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _begin(connection: Any) -> None:
        # A read (StateStore.reading) takes no write lock: under WAL it sees the last commit and
        # neither waits for a writer nor holds one up.
        read = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


class StateStore:
    def __init__(
        self, engine: AsyncEngine, schema: Revision | None = None, migrated: tuple[str, ...] = ()
    ) -> None:
        self.engine = engine
        self.schema = schema  # the schema revision found when the store was opened
        self.migrated = migrated  # the migrations opening it applied
        self._blocking: Engine | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self, table: Table) -> Any:
        """An INSERT with this engine's ON CONFLICT support (on_conflict_do_nothing/do_update)."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads only: on SQLite it does not queue for the write lock."""
        async with self.engine.connect() as db:
            yield await db.execution_options(**{READ_ONLY: True})

    def blocking(self) -> Engine | None:
        """SQLite only (else None): a synchronous engine on the same file, for a transaction run
        whole in one worker thread. Through aiosqlite every statement is a round trip between
        the event loop and its thread, and on a busy machine each waits for the scheduler."""
        if self.dialect != "sqlite" or self.engine.url.database in (None, "", ":memory:"):
            return None
        if self._blocking is None:
            self._blocking = create_engine(
                self.engine.url.set(drivername="sqlite"),
                connect_args={"timeout": 30, "check_same_thread": False},  # any worker thread, one at a time
            )
            _serialize_sqlite_writers(self._blocking)
        return self._blocking

    async def aclose(self) -> None:
        if self._blocking is not None:
            self._blocking.dispose()
        await self.engine.dispose()


async def open_state(
    url: str, base_dir: Path, *, source: str = "<config>", schema: SchemaMode = "check"
) -> StateStore:
    """Open the store. Its schema: `check` creates a fresh store and refuses one that is behind,
    `upgrade` applies pending migrations, `read` changes nothing (for `pasarela state status`)."""
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    backend = STATE_BACKENDS.get(scheme)
    if backend is None:
        expected = ", ".join(f"{s}://" for s in STATE_BACKENDS)
        raise ConfigError(
            [ConfigProblem(source, "state", f"unknown scheme {scheme!r}: expected one of {expected}")]
        )
    try:
        if scheme == "sqlite":
            address = backend(url, base_dir)
            if schema == "read" and _missing_file(address):
                address = "sqlite+aiosqlite:///:memory:"  # looking must not create the file: read it as empty
            engine = create_async_engine(address, connect_args={"timeout": 30})
            _serialize_sqlite_writers(engine)
        else:
            engine = create_async_engine(backend(url, base_dir), pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        hint = " (pip install 'pasarela[postgres]')" if scheme == "postgresql" else ""
        raise ConfigError(
            [ConfigProblem(source, "state", f"the driver for {scheme}:// is not installed: {exc.name}{hint}")]
        ) from None
    try:
        async with engine.begin() as connection:
            applied: list[str] = []
            if schema == "read":
                status = await revision(connection)
            else:
                status, applied = await prepare(connection, allow_upgrade=schema == "upgrade")
                if not status.behind or applied:
                    # A table someone dropped comes back empty (the audit's anchors report the loss).
                    await connection.run_sync(metadata.create_all)
    except (SQLAlchemyError, OSError) as exc:  # SQLAlchemy wraps the drivers' errors; refusals are OSError
        await engine.dispose()
        raise ConfigError(
            [ConfigProblem(source, "state", f"cannot open the state store: {type(exc).__name__}: {exc}")]
        ) from None
    if schema == "check" and status.behind and status.current is not None:
        await engine.dispose()
        raise ConfigError(
            [
                ConfigProblem(
                    source,
                    "state",
                    f"the state store is at schema revision {status.current}, this Pasarela needs "
                    f"{status.head}: back it up, then run `pasarela state migrate`",
                )
            ]
        )
    return StateStore(engine, status, tuple(applied))
