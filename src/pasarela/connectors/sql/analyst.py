"""The analyst tool's SELECTs: checked against the allowlist by what they read, then capped.

The allowed tables' real columns are read from the database on the first call (and again
after a reload): resolving a name needs every column a table has, open or not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import inspect
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy.ext.asyncio import AsyncEngine

from pasarela.config.sql import SqlAnalystSettings
from pasarela.connectors.sql.guard import UnsafeSql, parse_one, placeholders, require_read_only
from pasarela.connectors.sql.reads import Catalog, checked_select

log = structlog.get_logger("pasarela.sql")


class Analyst:
    def __init__(self, settings: SqlAnalystSettings, dialect: str) -> None:
        self.settings = settings
        self.dialect = dialect
        self._catalog: Catalog | None = None
        self._lock = asyncio.Lock()

    def forget_columns(self) -> None:
        self._catalog = None

    async def query(self, sql: str, engine: AsyncEngine) -> str:
        """The SQL to run for the analyst's `sql`; UnsafeSql says why it is refused."""
        if len(sql) > self.settings.max_sql_length:  # the input schema says so too; callers may skip it
            raise UnsafeSql(f"the SQL is longer than max_sql_length ({self.settings.max_sql_length})")
        catalog = await self.catalog(engine)
        # Checking is CPU work for sqlglot: off the event loop, so other calls keep moving.
        inner = await asyncio.to_thread(self._check, sql, catalog)
        # Parsed, checked, qualified and re-rendered by sqlglot; only the integer is ours.
        return f"SELECT * FROM ({inner}) AS pasarela_query LIMIT {int(self.settings.max_rows)}"  # noqa: S608

    def _check(self, sql: str, catalog: Catalog) -> str:
        statement = parse_one(sql, self.dialect)
        require_read_only(statement)
        if placeholders(statement):
            raise UnsafeSql("the query tool takes literal SQL, without :parameters")
        return checked_select(statement, catalog).sql(dialect=self.dialect)

    async def catalog(self, engine: AsyncEngine) -> Catalog:
        async with self._lock:
            if self._catalog is None:
                tables = list(self.settings.tables)
                async with engine.connect() as conn:
                    real = await conn.run_sync(_columns_of, tables)
                if missing := [t for t in tables if t not in real]:
                    log.warning("sql.analyst_tables_missing", tables=missing)
                self._catalog = Catalog.build(self.dialect, real, dict(self.settings.tables))
            return self._catalog


def _columns_of(conn: Any, tables: Sequence[str]) -> Mapping[str, list[str]]:
    inspector = inspect(conn)
    found: dict[str, list[str]] = {}
    for table in tables:
        try:
            columns = [column["name"] for column in inspector.get_columns(table)]
        except NoSuchTableError:
            continue
        if columns:
            found[table] = columns
    return found
