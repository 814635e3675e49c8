"""The SQL connector against SQLite and a real PostgreSQL: binding, guards, caps, the analyst."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from pasarela.config.backends import SqlBackend
from pasarela.connectors.sql import SqlConnector
from pasarela.errors import ConfigError, InvalidArguments, UpstreamError, UpstreamTimeout
from pasarela.secrets import Redactor
from tests.conftest import POSTGRES_URL, need_service
from tests.helpers.gateway import READER_KEY, bearer, gateway_for

pytestmark = pytest.mark.anyio

SCHEMA = [
    "CREATE TABLE sqltest_accounts (id VARCHAR(20) PRIMARY KEY, owner VARCHAR(80), balance NUMERIC(12, 2), pin VARCHAR(8))",
    "CREATE TABLE sqltest_transactions (id INTEGER PRIMARY KEY, account_id VARCHAR(20), amount NUMERIC(12, 2), "
    "booked_at DATE, note VARCHAR(200))",
    "INSERT INTO sqltest_accounts VALUES ('ACC-1', 'John Doe', 2450.75, '1234'), ('ACC-2', 'Maria Garcia', 10.00, '9999')",
] + [
    f"INSERT INTO sqltest_transactions VALUES ({i}, 'ACC-1', {i * 10}.50, '2026-11-{i:02d}', 'payment {i}')"  # noqa: S608
    for i in range(1, 8)
]
DROP = ["DROP TABLE IF EXISTS sqltest_transactions", "DROP TABLE IF EXISTS sqltest_accounts"]

RECENT = {
    "sql": "SELECT id, amount, booked_at, note FROM sqltest_transactions WHERE account_id = :account_id "
    "ORDER BY booked_at DESC LIMIT :limit",
    "description": "An account's latest transactions",
    "parameters": {
        "account_id": {"type": "string", "maxLength": 40},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5},
    },
}


async def _setup(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            for statement in DROP + SCHEMA:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


MARIADB_URL = os.environ.get("PASARELA_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bank.db'}"
        anyio.run(_setup, url.replace("sqlite://", "sqlite+aiosqlite://"))
        yield url
        return
    url = POSTGRES_URL if request.param == "postgresql" else MARIADB_URL
    driver = url.replace("postgresql://", "postgresql+asyncpg://").replace("mysql://", "mysql+aiomysql://")
    try:
        anyio.run(_setup, driver)
    except (OSError, DBAPIError) as exc:
        need_service(f"{request.param} at {url} is not reachable ({type(exc).__name__})")
    yield url


async def connector(url: str, **settings: Any) -> SqlConnector:
    backend = SqlBackend.model_validate({"sql": url, **settings})
    sql = SqlConnector("bank", backend, base_dir=Path("."), redactor=Redactor(), source="pasarela.yaml")
    await sql.load()
    return sql


@pytest.fixture
async def recent(db_url: str) -> AsyncIterator[SqlConnector]:
    sql = await connector(
        db_url,
        queries={"recent_transactions": RECENT},
        analyst={
            "tables": {
                "sqltest_transactions": ["id", "account_id", "amount", "booked_at"],
                "sqltest_accounts": ["id", "owner"],
            },
            "max_rows": 4,
        },
        max_rows=3,
    )
    yield sql
    await sql.aclose()


async def specs_of(url: str, **settings: Any) -> dict[str, Any]:
    sql = await connector(url, **settings)
    try:
        return {spec.name: spec for spec in await sql.load()}
    finally:
        await sql.aclose()


async def call(connection: SqlConnector, name: str, **arguments: Any) -> Any:
    specs = {spec.name: spec for spec in await connection.load()}
    return (await connection.invoke(specs[name], arguments)).data


async def test_a_named_query_binds_its_parameters(recent: SqlConnector) -> None:
    data = await call(recent, "recent_transactions", account_id="ACC-1", limit=2)
    assert [row["id"] for row in data["rows"]] == [7, 6]
    assert data["rows"][0]["amount"] == 70.5 and data["rows"][0]["booked_at"].startswith("2026-11-07")
    assert data["truncated"] is False


async def test_hostile_values_are_data_not_sql(recent: SqlConnector, db_url: str) -> None:
    for hostile in ("'; DROP TABLE sqltest_transactions; --", "ACC-1' OR '1'='1", "ACC-1\\'; DELETE FROM x"):
        data = await call(recent, "recent_transactions", account_id=hostile)
        assert data["rows"] == []
    assert (
        len((await call(recent, "recent_transactions", account_id="ACC-1", limit=100))["rows"]) == 3
    )  # still there


async def test_the_row_cap_truncates(recent: SqlConnector) -> None:
    data = await call(recent, "recent_transactions", account_id="ACC-1", limit=50)
    assert data["row_count"] == 3 and data["truncated"] is True


async def test_the_input_schema_comes_from_the_parameters(db_url: str) -> None:
    spec = (await specs_of(db_url, queries={"recent_transactions": RECENT}))["recent_transactions"]
    assert spec.input_schema["required"] == ["account_id"]
    assert spec.input_schema["properties"]["limit"]["maximum"] == 100
    assert spec.annotations.read_only and spec.annotations.idempotent


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "WITH gone AS (DELETE FROM sqltest_accounts RETURNING id) SELECT id FROM gone",
            "may not contain DELETE",
        ),
        ("SELECT 1; DELETE FROM sqltest_accounts", "expected exactly one statement, found 2"),
        ("SELECT * INTO sqltest_copy FROM sqltest_accounts", "may not contain INTO"),
        ("SELECT setval('some_seq', 1)", "may not call setval()"),
        ("SELECT nextval('some_seq')", "may not call nextval()"),
        ("SELECT * FROM sqltest_accounts FOR UPDATE", "may not contain LOCK"),
        ("UPDATE sqltest_accounts SET balance = 0", "must be a single SELECT, not UPDATE"),
        ("SELECT load_extension('evil.so')", "may not call load_extension()"),
    ],
)
async def test_writes_smuggled_into_read_only_queries_are_refused_at_load(
    db_url: str, sql: str, expected: str
) -> None:
    with pytest.raises(
        ConfigError,
        match=r"backends\.bank\.queries\.sneaky: sql: .*" + re.escape(expected),
    ):
        await connector(db_url, queries={"sneaky": {"sql": sql}})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"sql": "SELECT * FROM sqltest_accounts WHERE id = :id"},
            "uses :id but parameters does not declare it",
        ),
        (
            {"sql": "SELECT 1", "parameters": {"x": {"type": "string"}}},
            "declares x but the sql never uses it",
        ),
        ({"sql": "SELECT :x", "parameters": {"x": {"type": 12}}}, "parameters.x: not a valid JSON Schema"),
    ],
)
async def test_parameter_mistakes_are_config_errors(
    db_url: str, query: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        await connector(db_url, queries={"q": query})


async def test_write_queries_are_declared_as_such(db_url: str) -> None:
    sql = await connector(
        db_url,
        queries={
            "add_note": {
                "sql": "UPDATE sqltest_transactions SET note = :note WHERE id = :id",
                "read_only": False,
                "parameters": {"id": {"type": "integer"}, "note": {"type": "string"}},
            },
            "note_of": {
                "sql": "SELECT note FROM sqltest_transactions WHERE id = :id",
                "parameters": {"id": {"type": "integer"}},
            },
        },
    )
    try:
        specs = {spec.name: spec for spec in await sql.load()}
        assert not specs["add_note"].annotations.read_only and not specs["add_note"].annotations.idempotent
        assert (await sql.invoke(specs["add_note"], {"id": 1, "note": "'; DROP TABLE x; --"})).data[
            "row_count"
        ] == 1
        assert (await sql.invoke(specs["note_of"], {"id": 1})).data["rows"] == [
            {"note": "'; DROP TABLE x; --"}
        ]
    finally:
        await sql.aclose()


async def test_the_analyst_tool_reads_only_what_is_allowed(recent: SqlConnector) -> None:
    data = await call(
        recent,
        "query",
        sql="SELECT t.amount, a.owner FROM sqltest_transactions t JOIN sqltest_accounts a ON a.id = t.account_id",
    )
    assert data["row_count"] == 4 and data["truncated"] is False  # the forced LIMIT (max_rows 4)
    assert data["rows"][0]["owner"] == "John Doe"
    totals = await call(
        recent,
        "query",
        sql="SELECT account_id, SUM(amount) AS total FROM sqltest_transactions GROUP BY account_id ORDER BY total DESC",
    )
    assert totals["rows"] == [{"account_id": "ACC-1", "total": 283.5}]
    for sql, expected in (
        ("SELECT pin FROM sqltest_accounts", "column 'pin' of 'sqltest_accounts' is not open"),
        ("SELECT * FROM sqltest_accounts", "reads every column of 'sqltest_accounts'"),
        ("SELECT * FROM pg_shadow", "table 'pg_shadow' is not open"),
        ("DELETE FROM sqltest_accounts", "must be a single SELECT"),
        ("SELECT id FROM sqltest_accounts; DROP TABLE sqltest_accounts", "exactly one statement"),
        ("SELECT a.pin AS id FROM sqltest_accounts a", "column 'pin' of 'sqltest_accounts' is not open"),
    ):
        with pytest.raises(InvalidArguments, match=expected):
            await call(recent, "query", sql=sql)


async def test_the_database_refuses_writes_the_parser_cannot_see(db_url: str) -> None:
    """A function that writes, unknown to the guard: the read-only transaction stops it."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no user-defined SQL functions; its read-only connection is tested below")
    engine = create_async_engine(db_url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION sqltest_sneaky() RETURNS int LANGUAGE sql AS "
                "$$ DELETE FROM sqltest_transactions; SELECT 1 $$"
            )
        )
    await engine.dispose()
    sql = await connector(db_url, queries={"innocent": {"sql": "SELECT sqltest_sneaky() AS x"}})
    try:
        with pytest.raises(UpstreamError, match="read-only transaction"):
            await call(sql, "innocent")
    finally:
        await sql.aclose()


async def test_sqlite_read_only_connections_cannot_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    await _setup(url.replace("sqlite://", "sqlite+aiosqlite://"))
    sql = await connector(url, queries={"q": {"sql": "SELECT count(*) AS n FROM sqltest_accounts"}})
    try:
        assert sql._read_engine is not None
        async with sql._read_engine.connect() as conn:
            with pytest.raises(Exception, match=r"readonly|read-only|query_only"):
                await conn.execute(text("DELETE FROM sqltest_accounts"))
    finally:
        await sql.aclose()


async def test_a_slow_query_times_out(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("needs a server-side slow query")
    sql = await connector(
        db_url,
        queries={"slow": {"sql": "SELECT count(*) AS n FROM generate_series(1, 300000000)"}},
        timeout="200ms",
    )
    try:
        with pytest.raises(UpstreamTimeout):
            await call(sql, "slow")
    finally:
        await sql.aclose()


async def test_sql_tools_go_through_the_gateway(tmp_path: Path, db_url: str) -> None:
    backends = f"""\
  ledger:
    sql: "{db_url}"
    max_rows: 10
    queries:
      recent_transactions:
        sql: "{RECENT["sql"]}"
        parameters:
          account_id: {{type: string}}
          limit: {{type: integer, minimum: 1, maximum: 100, default: 5}}
"""
    extra = "access:\n  reader: [recent_transactions]\n"
    async with gateway_for(tmp_path, "http://127.0.0.1:1", backends=backends, extra=extra) as (client, _):
        ok = await client.post(
            "/v1/tools/recent_transactions:call",
            json={"arguments": {"account_id": "ACC-1", "limit": 1}},
            headers=bearer(READER_KEY),
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["result"]["rows"][0]["id"] == 7
        assert ok.json()["meta"]["source"] == "ledger"
        too_many = await client.post(
            "/v1/tools/recent_transactions:call",
            json={"arguments": {"account_id": "ACC-1", "limit": 1000}},
            headers=bearer(READER_KEY),
        )
        assert too_many.status_code == 422  # the parameter's bounds hold before the database is asked
