"""The SQL connector: declared queries (and an optional analyst tool) over SQLAlchemy async.

Parameters are always bound, never interpolated. Read-only queries run behind two walls:
the parse-time guard (guard.py) and the database's own read-only mode — a read-only
transaction on PostgreSQL and MySQL/MariaDB, a read-only connection on SQLite. Results are
rows as JSON objects, capped at `max_rows` (fetched through a cursor, never all at once).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import importlib
import sqlite3
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pasarela.catalog.spec import ToolSpec
from pasarela.config.backends import SqlBackend
from pasarela.connectors.backend import BackendConnector
from pasarela.connectors.base import DEFAULT_INVOCATION, Invocation, SpanTarget, UpstreamResult
from pasarela.connectors.sql.analyst import Analyst
from pasarela.connectors.sql.guard import UnsafeSql, dialect_of
from pasarela.connectors.sql.limits import time_limited, timed_out, watch_sqlite
from pasarela.connectors.sql.queries import ANALYST_ORIGIN, NamedQuery, analyst_tool, build_query
from pasarela.errors import (
    ConfigError,
    ConfigProblem,
    InvalidArguments,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from pasarela.secrets import Redactor

log = structlog.get_logger("pasarela.sql")
# Our own timer fires this long after the database was told to stop, as a backstop.
_GRACE = 1.0
DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "mysql": "mysql+aiomysql"}


class SqlConnector(BackendConnector[SqlBackend]):
    def __init__(
        self, backend: str, settings: SqlBackend, *, base_dir: Path, redactor: Redactor, source: str
    ) -> None:
        super().__init__(backend, settings, base_dir=base_dir, redactor=redactor, source=source)
        self.dialect = dialect_of(settings.sql)
        self._queries: dict[str, NamedQuery] = {}
        self._engine: AsyncEngine | None = None
        self._read_engine: AsyncEngine | None = None
        self._analyst: Analyst | None = None

    async def load(self) -> list[ToolSpec]:
        settings = self.settings
        specs: list[ToolSpec] = []
        problems: list[ConfigProblem] = []
        for name, query in settings.queries.items():
            read_only = settings.read_only if query.read_only is None else query.read_only
            try:
                spec, named = build_query(
                    name,
                    query,
                    self.backend,
                    self.dialect,
                    read_only=read_only,
                    max_rows=query.max_rows or settings.max_rows,
                )
            except ValueError as exc:
                problems.append(self.problem(f"queries.{name}", str(exc)))
                continue
            specs.append(spec)
            self._queries[name] = named
        if settings.analyst is not None:
            if settings.analyst.name in settings.queries:
                problems.append(
                    self.problem("analyst.name", f"{settings.analyst.name!r} is also a query's name")
                )
            else:
                specs.append(analyst_tool(settings.analyst, self.backend))
                self._analyst = Analyst(settings.analyst, self.dialect)  # columns are read afresh
        if not specs and not problems:
            problems.append(self.problem("queries", "declare at least one query (or an analyst tool)"))
        if problems:
            raise ConfigError(problems)
        if self._read_engine is not None:
            return specs  # loaded before: keep the pools (never leak a second set)
        try:
            self._engine, self._read_engine = self._engines()
        except (ModuleNotFoundError, ValueError) as exc:
            hint = (
                f"the driver is not installed: {exc.name}"
                if isinstance(exc, ModuleNotFoundError)
                else str(exc)
            )
            raise ConfigError([self.problem("sql", hint)]) from None
        return specs

    def _engines(self) -> tuple[AsyncEngine | None, AsyncEngine]:
        url = make_url(self.settings.sql)
        scheme = url.drivername.split("+", 1)[0]
        family = "mysql" if scheme in ("mysql", "mariadb") else scheme
        if family not in DRIVERS:
            raise ValueError(f"unknown database {scheme!r}: expected sqlite://, postgresql:// or mysql://")
        url = url.set(drivername=DRIVERS[family])
        writes = any(not q.read_only for q in self._queries.values())
        options: dict[str, Any] = {"pool_pre_ping": True} if family != "sqlite" else {}
        if family == "sqlite":
            path = Path(url.database or "").expanduser()
            path = path if path.is_absolute() else (self.base_dir / path).resolve()
            writer = create_async_engine(url.set(database=str(path))) if writes else None
            # Read-only at the connection: SQLite itself refuses any write (mode=ro, query_only).
            reader = create_async_engine(url.set(database=f"file:{path}?mode=ro", query={"uri": "true"}))
            _query_only(reader)
            for engine in (writer, reader):
                if engine is not None:
                    watch_sqlite(engine)
            return writer, reader
        engine = create_async_engine(url, pool_size=min(self.settings.max_connections, 20), **options)
        return (engine if writes else None), engine

    # -- invoking --------------------------------------------------------------------------

    def span_target(self, tool: ToolSpec) -> SpanTarget:
        """Database client conventions. The declared query's text holds only placeholders; the
        analyst's query is the agent's own text, so it is left out."""
        system = {"postgres": "postgresql"}.get(self.dialect, self.dialect)
        attributes: dict[str, str | int | bool] = {"db.system.name": system}
        if tool.origin == ANALYST_ORIGIN:
            return SpanTarget(f"SELECT {system}", attributes=attributes | {"db.operation.name": "SELECT"})
        sql = self._queries[tool.origin].sql
        operation = sql.split(None, 1)[0].upper() if sql.strip() else "QUERY"
        attributes |= {"db.operation.name": operation, "db.query.text": sql}
        return SpanTarget(f"{operation} {system}", attributes=attributes)

    async def invoke(
        self,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        invocation: Invocation = DEFAULT_INVOCATION,
    ) -> UpstreamResult:
        limit = self.time_limit(invocation)
        deadline = asyncio.get_running_loop().time() + limit
        try:
            # Our timer is the backstop; the database is told to stop first (limits.py).
            async with asyncio.timeout(limit + _GRACE):
                query, params = await self._statement(tool, arguments)
                data = await self._run(query, params, deadline)
        except UnsafeSql as exc:
            raise InvalidArguments(f"{tool.name}: {exc}") from None
        except TimeoutError:
            raise self._timeout(tool, limit) from None
        except OSError as exc:
            raise UpstreamUnavailable(
                f"cannot connect to {self.backend} ({type(exc).__name__})", backend=self.backend
            ) from None
        except DBAPIError as exc:
            if timed_out(exc.orig):
                raise self._timeout(tool, limit) from None
            if exc.connection_invalidated or isinstance(exc.orig, OSError):
                raise UpstreamUnavailable(f"cannot connect to {self.backend}", backend=self.backend) from None
            raise UpstreamError(
                f"{self.backend} refused {tool.name}: {self._reason(exc)}", backend=self.backend
            ) from None
        except SQLAlchemyError as exc:
            raise UpstreamError(
                f"{self.backend} failed {tool.name}: {type(exc).__name__}", backend=self.backend
            ) from None
        except driver_errors() as exc:  # raised as is by some drivers while streaming rows
            if timed_out(exc):
                raise self._timeout(tool, limit) from None
            raise UpstreamError(
                f"{self.backend} refused {tool.name}: {self._first_line(exc)}", backend=self.backend
            ) from None
        return UpstreamResult(data)

    async def _statement(
        self, tool: ToolSpec, arguments: Mapping[str, Any]
    ) -> tuple[NamedQuery, dict[str, Any]]:
        if tool.origin != ANALYST_ORIGIN:
            query = self._queries[tool.origin]
            return query, {**query.defaults, **arguments}
        assert self._analyst is not None and self._read_engine is not None
        sql = await self._analyst.query(str(arguments.get("sql", "")), self._read_engine)
        return NamedQuery(sql, True, self._analyst.settings.max_rows, {}), {}

    def _timeout(self, tool: ToolSpec, limit: float) -> UpstreamTimeout:
        return UpstreamTimeout(
            f"{self.backend} did not answer {tool.name} within {limit:g}s", backend=self.backend
        )

    def _reason(self, exc: DBAPIError) -> str:
        return self._first_line(exc.orig) if exc.orig is not None else type(exc).__name__

    def _first_line(self, exc: BaseException) -> str:
        lines = str(exc).strip().splitlines()
        return self.redactor.excerpt(lines[0] if lines else type(exc).__name__, 300)

    async def _run(self, query: NamedQuery, params: Mapping[str, Any], deadline: float) -> dict[str, Any]:
        engine = self._read_engine if query.read_only else self._engine
        assert engine is not None, "load() must run before invoke()"
        async with engine.connect() as conn:
            if query.read_only and self.dialect == "mysql":
                await conn.execute(text("SET TRANSACTION READ ONLY"))  # applies to the next transaction
                await conn.commit()
            async with conn.begin():
                if query.read_only and self.dialect == "postgres":
                    await conn.execute(text("SET TRANSACTION READ ONLY"))
                remaining = deadline - asyncio.get_running_loop().time()
                async with time_limited(conn, self.dialect, remaining):
                    return await self._execute(conn, query, params)

    async def _execute(
        self, conn: AsyncConnection, query: NamedQuery, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        if query.read_only:
            return await _fetch(conn, query.sql, params, query.max_rows)
        result = await conn.execute(text(query.sql), dict(params))
        if result.returns_rows:
            rows = [_row(r._mapping) for r in result.fetchmany(query.max_rows + 1)]
            return _rows(rows, query.max_rows)
        return {"rows": [], "row_count": max(result.rowcount, 0), "truncated": False}

    async def aclose(self) -> None:
        for engine in {id(e): e for e in (self._engine, self._read_engine) if e is not None}.values():
            await engine.dispose()
        self._engine = self._read_engine = None


async def _fetch(conn: AsyncConnection, sql: str, params: Mapping[str, Any], max_rows: int) -> dict[str, Any]:
    result = await conn.stream(text(sql), dict(params))
    rows = [_row(r._mapping) for r in await result.fetchmany(max_rows + 1)]
    await result.close()
    return _rows(rows, max_rows)


def _rows(rows: list[dict[str, Any]], max_rows: int) -> dict[str, Any]:
    truncated = len(rows) > max_rows
    rows = rows[:max_rows]
    return {"rows": rows, "row_count": len(rows), "truncated": truncated}


def _row(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key): _jsonable(value) for key, value in mapping.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


@functools.cache
def driver_errors() -> tuple[type[Exception], ...]:
    """The base exception of each installed database driver."""
    found: list[type[Exception]] = [sqlite3.Error]
    for module, name in (("asyncpg", "PostgresError"), ("pymysql.err", "Error")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except ImportError:
            continue
    return tuple(found)


def _query_only(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only = ON")
        cursor.close()
