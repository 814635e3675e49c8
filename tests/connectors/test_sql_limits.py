"""The time limit is kept by the database itself: a runaway query stops there, not only here.

For each dialect a recursive CTE that would run for minutes, under a 0.5 s limit: the call
fails with 504 upstream_timeout, and the database is seen working on the query while the
call runs and no longer working on it once the call has failed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from pasarela.config.backends import SqlBackend
from pasarela.connectors.sql import SqlConnector
from pasarela.errors import UpstreamTimeout
from pasarela.secrets import Redactor
from tests.conftest import POSTGRES_URL, need_service

pytestmark = pytest.mark.anyio

MARIADB_URL = "mysql://root@127.0.0.1:3306/test"
# A billion-row join (MariaDB caps recursion at 1000 steps) that reads a table, so SQLite
# holds a shared lock while it runs: minutes of work on any of the three.
RUNAWAY = (
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000) "
    "SELECT count(*) AS sqlslow_marker FROM r a, r b, r c, sqlslow_one s"
)
QUICK = "SELECT count(*) AS n FROM sqlslow_one"
LIMIT = "500ms"


async def _setup(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS sqlslow_one"))
            await conn.execute(text("CREATE TABLE sqlslow_one (id INTEGER PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO sqlslow_one VALUES (1)"))
    finally:
        await engine.dispose()


def _driver(url: str) -> str:
    return (
        url.replace("sqlite://", "sqlite+aiosqlite://")
        .replace("postgresql://", "postgresql+asyncpg://")
        .replace("mysql://", "mysql+aiomysql://")
    )


async def _server_busy(url: str) -> bool:
    """Whether some other session is running the runaway query right now."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
        "AND query LIKE '%sqlslow_marker%'"
        if url.startswith("postgresql")
        else "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
        "AND COMMAND = 'Query' AND INFO LIKE '%sqlslow_marker%'"
    )
    engine = create_async_engine(_driver(url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return bool((await conn.execute(text(sql))).scalar())
    finally:
        await engine.dispose()


def _sqlite_busy(path: Path) -> bool:
    """A reader still at work holds a shared lock: an exclusive lock is then refused at once."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc)
    finally:
        conn.close()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[str, Callable[[], Awaitable[bool]]]:
    if request.param == "sqlite":
        path = tmp_path / "slow.db"
        url = f"sqlite:///{path}"

        async def busy() -> bool:
            return _sqlite_busy(path)

    else:
        url = POSTGRES_URL if request.param == "postgresql" else MARIADB_URL

        async def busy() -> bool:
            return await _server_busy(url)

    try:
        await _setup(_driver(url))
    except (OSError, DBAPIError) as exc:
        need_service(f"{request.param} at {url} is not reachable ({type(exc).__name__})")
    return url, busy


async def test_a_runaway_query_is_stopped_by_the_database(
    database: tuple[str, Callable[[], Awaitable[bool]]],
) -> None:
    url, busy = database
    backend = SqlBackend.model_validate(
        {"sql": url, "timeout": LIMIT, "queries": {"runaway": {"sql": RUNAWAY}, "quick": {"sql": QUICK}}}
    )
    sql = SqlConnector("dwh", backend, base_dir=Path("."), redactor=Redactor(), source="pasarela.yaml")
    specs = {spec.name: spec for spec in await sql.load()}
    try:
        call = asyncio.create_task(sql.invoke(specs["runaway"], {}))
        seen_running = False
        while not call.done():
            seen_running = seen_running or await busy()
            await asyncio.sleep(0.02)
        with pytest.raises(UpstreamTimeout, match=r"did not answer runaway within 0\.5s") as failed:
            await asyncio.wait_for(call, 30)  # long done: the bound only keeps a regression from hanging
        assert failed.value.status == 504 and failed.value.code == "upstream_timeout"
        assert seen_running, "the runaway query was never seen running: the check below would prove nothing"
        assert not await busy()  # the database stopped working on it
        # and the connection (SQLite: its thread) is free for the next query right away
        assert (await asyncio.wait_for(sql.invoke(specs["quick"], {}), 10)).data["rows"] == [{"n": 1}]
    finally:
        await sql.aclose()


async def test_the_analyst_tool_is_time_limited_too(tmp_path: Path) -> None:
    path = tmp_path / "slow.db"
    await _setup(_driver(f"sqlite:///{path}"))
    backend = SqlBackend.model_validate(
        {"sql": f"sqlite:///{path}", "timeout": LIMIT, "analyst": {"tables": {"sqlslow_one": "*"}}}
    )
    sql = SqlConnector("dwh", backend, base_dir=Path("."), redactor=Redactor(), source="pasarela.yaml")
    (spec,) = await sql.load()
    try:
        with pytest.raises(UpstreamTimeout):
            await asyncio.wait_for(sql.invoke(spec, {"sql": RUNAWAY}), 30)
        assert not _sqlite_busy(path)
        assert (await sql.invoke(spec, {"sql": QUICK})).data["rows"] == [{"n": 1}]
    finally:
        await sql.aclose()
