"""Change data capture by polling, for databases without a log to read here (SQLite, MariaDB/MySQL):
rows whose cursor column (a sequence, or a timestamp with the key breaking ties) is past the
stored position become Debezium-style changes (`before` unknown: null). The position is
stored in the state store only after the events are; one process polls a table at a time.
Deletes are not seen by polling: use soft deletes, or log-based capture."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import os
import socket
from typing import Any

import anyio
import orjson
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pasarela.config.events import EventSourceSettings, SqlPollingSettings
from pasarela.events.service import Events
from pasarela.events.sources.consumers import Ingest

LEASE = 15.0
DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "postgresql": "postgresql+asyncpg",
}


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


def _query(settings: SqlPollingSettings, after: list[Any] | None) -> tuple[str, dict[str, Any]]:
    cursor, key = settings.cursor_column, settings.key_column
    order = f"{cursor}, {key}" if key else cursor
    where, params = "", {}
    if after is not None:
        params = {"c": after[0]}
        where = f"WHERE {cursor} > :c"
        if key:
            where = f"WHERE ({cursor} > :c OR ({cursor} = :c AND {key} > :k))"
            params["k"] = after[1]
    return f"SELECT * FROM {settings.table} {where} ORDER BY {order} LIMIT {settings.batch}", params  # noqa: S608 - names checked at load


async def _start_at_the_end(engine: Any, settings: SqlPollingSettings) -> str:
    """The position of the last row there now (`snapshot: false`): what is already there is history."""
    cursor, key = settings.cursor_column, settings.key_column
    order = f"{cursor} DESC, {key} DESC" if key else f"{cursor} DESC"
    columns = f"{cursor}, {key}" if key else cursor
    query = f"SELECT {columns} FROM {settings.table} ORDER BY {order} LIMIT 1"  # noqa: S608 - names checked at load
    async with engine.connect() as db:
        last = (await db.execute(text(query))).first()
    if last is None:
        return ""  # an empty table: every row is new
    return orjson.dumps([_plain(last[0]), _plain(last[1]) if key else None]).decode()


def engine_url(url: str) -> str:
    parsed = make_url(url)
    scheme = parsed.drivername.split("+", 1)[0]
    if scheme not in DRIVERS:
        raise RuntimeError(f"sql_polling reads sqlite://, mysql:// or postgresql://, not {scheme}://")
    return str(parsed.set(drivername=DRIVERS[scheme])) if "+" not in parsed.drivername else url


async def consume(name: str, source: EventSourceSettings, ingest: Ingest, events: Events) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    settings = source.sql_polling
    assert settings is not None
    positions = events.core.positions
    owner = f"{socket.gethostname()[:40]}:{os.getpid()}"
    lease = f"source:{name}"
    engine = create_async_engine(engine_url(settings.url.get_secret_value()))
    database = make_url(settings.url.get_secret_value()).database or ""
    try:
        while True:
            if not await positions.hold(lease, owner, LEASE):
                await anyio.sleep(LEASE / 3)
                continue
            stored = await positions.get(lease)
            if stored is None and not settings.snapshot:
                stored = await _start_at_the_end(engine, settings)
                await positions.set(lease, stored)
            after = orjson.loads(stored) if stored else None
            query, params = _query(settings, after)
            async with engine.connect() as db:
                rows = [dict(row._mapping) for row in await db.execute(text(query), params)]
            if not rows:
                await anyio.sleep(settings.poll_interval)
                continue
            batch = []
            for row in rows:
                plain = {k: _plain(v) for k, v in row.items()}
                position = [
                    plain[settings.cursor_column],
                    plain[settings.key_column] if settings.key_column else None,
                ]
                change = {
                    "before": None,
                    "after": plain,
                    "op": settings.op,
                    "source": {
                        "connector": "sql_polling",
                        "db": os.path.basename(database),
                        "table": settings.table,
                        "position": position[0],
                    },
                }
                batch.append((change, f"{settings.table}:{position[0]}:{position[1] or ''}"))
            await ingest(batch)
            last = rows[-1]
            mark = [
                _plain(last[settings.cursor_column]),
                _plain(last[settings.key_column]) if settings.key_column else None,
            ]
            await positions.set(lease, orjson.dumps(mark).decode())
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await engine.dispose()
            await positions.release(lease, owner)
