"""The analyst tool refuses every query that reads a closed column, however it is dressed.

A corpus of bypass attempts (each refused, in each dialect), legitimate queries that must
still pass, and the same end to end against real SQLite, PostgreSQL and MariaDB databases:
a refused query never reaches the database; an allowed one returns rows.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from pasarela.catalog.spec import ToolSpec
from pasarela.config.backends import SqlBackend
from pasarela.connectors.sql import SqlConnector
from pasarela.connectors.sql.guard import UnsafeSql, parse_one, require_read_only
from pasarela.connectors.sql.reads import Catalog, checked_select
from pasarela.errors import InvalidArguments
from pasarela.secrets import Redactor
from tests.conftest import POSTGRES_URL, need_service

pytestmark = pytest.mark.anyio

MARIADB_URL = "mysql://root@127.0.0.1:3306/test"
COLUMNS = {
    "sqlreads_accounts": ["id", "owner", "balance", "pin"],
    "sqlreads_transactions": ["id", "account_id", "amount", "booked_at", "note"],
    "sqlreads_branches": ["id", "city"],
}
TABLES: dict[str, Any] = {
    "sqlreads_accounts": ["id", "owner"],  # balance and pin are closed
    "sqlreads_transactions": ["id", "account_id", "amount", "booked_at"],  # note is closed
    "sqlreads_branches": "*",
}
SCHEMA = [
    "CREATE TABLE sqlreads_accounts (id VARCHAR(20) PRIMARY KEY, owner VARCHAR(80), balance NUMERIC(12, 2), "
    "pin VARCHAR(8))",
    "CREATE TABLE sqlreads_transactions (id INTEGER PRIMARY KEY, account_id VARCHAR(20), amount NUMERIC(12, 2), "
    "booked_at DATE, note VARCHAR(200))",
    "CREATE TABLE sqlreads_branches (id INTEGER PRIMARY KEY, city VARCHAR(40))",
    "INSERT INTO sqlreads_accounts VALUES ('ACC-1', 'John Doe', 2450.75, '1234'), ('ACC-2', 'Maria Garcia', 10.00, '9999')",
    "INSERT INTO sqlreads_transactions VALUES (1, 'ACC-1', 10.50, '2026-11-01', 'rent'), "
    "(2, 'ACC-1', 70.00, '2026-11-02', 'payment'), (3, 'ACC-2', 5.25, '2026-11-03', 'coffee')",
    "INSERT INTO sqlreads_branches VALUES (1, 'Madrid'), (2, 'Lima')",
]
DROP = [f"DROP TABLE IF EXISTS {table}" for table in COLUMNS]

# Every one reads a closed column (pin, balance, note), or reads whole rows, or reads past
# the allowlist by name; each must be refused before the database is asked.
ATTACKS = [
    "SELECT owner, 1 AS pin FROM sqlreads_accounts WHERE id='ACC-1' GROUP BY owner HAVING max(pin) LIKE '1%'",
    "SELECT owner AS pin FROM sqlreads_accounts ORDER BY pin",
    "SELECT owner, 1 AS pin FROM sqlreads_accounts ORDER BY pin + 0",
    "SELECT 1 AS x FROM sqlreads_accounts ORDER BY pin",
    "SELECT id FROM sqlreads_accounts WHERE pin LIKE '1%'",
    "SELECT id FROM sqlreads_accounts GROUP BY id, pin",
    "SELECT id FROM sqlreads_accounts GROUP BY id HAVING max(balance) > 100",
    "SELECT 1 FROM sqlreads_accounts HAVING max(pin) > '1'",
    "SELECT id, rank() OVER (ORDER BY balance) AS r FROM sqlreads_accounts",
    "SELECT id, sum(1) OVER w AS s FROM sqlreads_accounts WINDOW w AS (PARTITION BY pin)",
    "SELECT id, lag(pin) OVER (ORDER BY id) AS prev FROM sqlreads_accounts",
    "SELECT id FROM sqlreads_accounts WHERE id IN (SELECT id FROM sqlreads_accounts WHERE pin = '1234')",
    "SELECT id FROM sqlreads_transactions WHERE EXISTS (SELECT 1 FROM sqlreads_accounts WHERE pin = '1234')",
    "SELECT id FROM sqlreads_accounts WHERE EXISTS (SELECT 1 FROM sqlreads_transactions WHERE note LIKE 'pay%')",
    "SELECT id FROM sqlreads_accounts a WHERE EXISTS (SELECT 1 FROM sqlreads_transactions t WHERE t.account_id = a.pin)",
    "SELECT (SELECT pin FROM sqlreads_accounts LIMIT 1) AS x",
    "SELECT (SELECT a.pin) AS x FROM sqlreads_accounts a",
    "WITH c AS (SELECT pin FROM sqlreads_accounts) SELECT count(*) AS n FROM c",
    "WITH c(x) AS (SELECT pin FROM sqlreads_accounts) SELECT x FROM c",
    "WITH RECURSIVE r(n, p) AS (SELECT 1, pin FROM sqlreads_accounts UNION ALL SELECT n + 1, p FROM r WHERE n < 2) SELECT n FROM r",
    "SELECT x FROM (SELECT pin AS x FROM sqlreads_accounts) s",
    "SELECT max(x) AS m FROM (SELECT balance AS x FROM sqlreads_accounts) s",
    "SELECT * FROM sqlreads_accounts",
    "SELECT a.* FROM sqlreads_accounts a",
    "SELECT * FROM (SELECT * FROM sqlreads_accounts) s",
    "SELECT a.id FROM sqlreads_accounts a NATURAL JOIN sqlreads_accounts b",
    "SELECT a.id FROM sqlreads_accounts a JOIN sqlreads_accounts b USING (pin)",
    "SELECT t.id FROM sqlreads_transactions t JOIN sqlreads_accounts a ON a.id = t.account_id WHERE a.pin > '0'",
    "SELECT a.id FROM sqlreads_accounts a, sqlreads_transactions t WHERE a.pin = t.account_id",
    "SELECT id FROM sqlreads_accounts UNION SELECT pin FROM sqlreads_accounts",
    "SELECT id FROM sqlreads_accounts ORDER BY CASE WHEN pin LIKE '1%' THEN 0 ELSE 1 END",
    "SELECT id FROM sqlreads_accounts ORDER BY 1, pin",
    "SELECT id FROM sqlreads_accounts LIMIT (SELECT count(*) FROM sqlreads_accounts WHERE pin LIKE '1%')",
    'SELECT "pin" FROM sqlreads_accounts',
    "SELECT PIN FROM sqlreads_accounts",
    "SELECT sqlreads_accounts.pin FROM sqlreads_accounts",
    "SELECT sum(balance) AS s FROM sqlreads_accounts",
    "SELECT count(pin) AS n FROM sqlreads_accounts",
    "SELECT count(DISTINCT pin) AS n FROM sqlreads_accounts",
    "SELECT id FROM sqlreads_accounts WHERE length(pin) = 4",
    "SELECT id FROM sqlreads_accounts WHERE id = 'ACC-1' AND substr(pin, 1, 1) = '1'",
    "SELECT id FROM sqlreads_accounts WHERE /* hidden */ pin = '1234'",
    "SELECT pin FROM sqlreads_accounts AS pin",
    "SELECT id FROM sqlreads_accounts WHERE (id, pin) = ('ACC-1', '1234')",
    "SELECT owner FROM sqlreads_accounts GROUP BY owner HAVING sum(balance) > 0",
    "SELECT a FROM sqlreads_accounts a",
    "SELECT row_to_json(a) AS j FROM sqlreads_accounts a",
    "SELECT to_jsonb(a.*) AS j FROM sqlreads_accounts a",
    "SELECT json_object('p', pin) AS j FROM sqlreads_accounts",
    "SELECT table_to_xml('sqlreads_accounts', true, false, '') AS x",
    "SELECT query_to_xml('select pin from sqlreads_accounts', true, false, '') AS x",
    "SELECT pg_catalog.table_to_xml('sqlreads_accounts', true, false, '') AS x",
    "SELECT ts_stat('select pin from sqlreads_accounts') AS x",
    "SELECT * FROM pragma_table_info('sqlreads_accounts')",
    "SELECT rowid, id FROM sqlreads_accounts",
    "SELECT * FROM public.sqlreads_accounts",
    "SELECT name FROM sqlite_master",
    "SELECT (SELECT max(x) FROM (WITH sqlreads_secret AS (SELECT 1 AS x) SELECT x FROM sqlreads_secret) q) AS y FROM sqlreads_secret",
]
POSTGRES_ATTACKS = [
    "SELECT (a).pin AS p FROM sqlreads_accounts a",
    "SELECT a::text AS t FROM sqlreads_accounts a",
    "SELECT json_agg(a) AS j FROM sqlreads_accounts a",
    "SELECT DISTINCT ON (pin) id FROM sqlreads_accounts",
    "SELECT id FROM sqlreads_accounts GROUP BY ROLLUP(id, pin)",
    "SELECT count(*) FILTER (WHERE pin LIKE '1%') AS n FROM sqlreads_accounts",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY balance) AS p FROM sqlreads_accounts",
    "SELECT owner FROM sqlreads_accounts a JOIN LATERAL (SELECT a.pin AS x) l ON true",
    "SELECT id FROM sqlreads_accounts WHERE pin COLLATE \"C\" > '1'",
    "SELECT row(a.*)::text AS t FROM sqlreads_accounts a",
    "SELECT hstore(a) AS h FROM sqlreads_accounts a",
    "SELECT id FROM sqlreads_accounts WHERE ctid IS NOT NULL",
]
LEGITIMATE = [
    "SELECT id, owner FROM sqlreads_accounts",
    "SELECT t.amount, a.owner FROM sqlreads_transactions t JOIN sqlreads_accounts a ON a.id = t.account_id",
    "SELECT account_id, SUM(amount) AS total FROM sqlreads_transactions GROUP BY account_id ORDER BY total DESC",
    "SELECT count(*) AS n FROM sqlreads_accounts",
    "WITH big AS (SELECT account_id, amount FROM sqlreads_transactions WHERE amount > 20) SELECT account_id, count(*) AS n FROM big GROUP BY account_id",
    "SELECT id, amount, sum(amount) OVER (PARTITION BY account_id ORDER BY booked_at) AS running FROM sqlreads_transactions",
    "SELECT owner FROM sqlreads_accounts WHERE id IN (SELECT account_id FROM sqlreads_transactions WHERE amount > 50)",
    "SELECT a.owner, count(*) AS n FROM sqlreads_accounts a JOIN sqlreads_transactions t ON t.account_id = a.id GROUP BY a.owner HAVING count(*) > 1",
    "SELECT id FROM sqlreads_accounts UNION SELECT account_id FROM sqlreads_transactions",
    "SELECT amount AS amount FROM sqlreads_transactions ORDER BY amount",
    "SELECT owner AS holder FROM sqlreads_accounts ORDER BY holder",
    "SELECT x.owner FROM (SELECT id, owner FROM sqlreads_accounts) x WHERE x.id = 'ACC-1'",
    "SELECT id FROM sqlreads_transactions t WHERE EXISTS (SELECT 1 FROM sqlreads_accounts a WHERE a.id = t.account_id AND a.owner LIKE 'J%')",
    "SELECT * FROM sqlreads_branches",
    "SELECT b.*, t.amount FROM sqlreads_branches b JOIN sqlreads_transactions t ON t.id = b.id",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r",
    "SELECT 1 AS pin",
]
# In MySQL "pin" is a string, not a column: it reads nothing.
NOT_AN_ATTACK = {("mysql", 'SELECT "pin" FROM sqlreads_accounts')}
DIALECTS = ("sqlite", "postgres", "mysql")


def check(sql: str, dialect: str) -> str:
    statement = parse_one(sql, dialect)
    require_read_only(statement)
    return checked_select(statement, Catalog.build(dialect, COLUMNS, TABLES)).sql(dialect=dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", ATTACKS)
def test_every_bypass_attempt_is_refused(sql: str, dialect: str) -> None:
    if (dialect, sql) in NOT_AN_ATTACK:
        assert check(sql, dialect).startswith("SELECT 'pin' AS")  # a literal, no column read
        return
    with pytest.raises(UnsafeSql):
        check(sql, dialect)


@pytest.mark.parametrize("sql", POSTGRES_ATTACKS)
def test_postgres_whole_row_and_clause_bypasses_are_refused(sql: str) -> None:
    with pytest.raises(UnsafeSql):
        check(sql, "postgres")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", LEGITIMATE)
def test_legitimate_queries_pass(sql: str, dialect: str) -> None:
    assert check(sql, dialect).upper().startswith(("SELECT", "WITH"))


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT owner, 1 AS pin FROM sqlreads_accounts GROUP BY owner HAVING max(pin) LIKE '1%'",
            "the name 'pin' is a column of 'sqlreads_accounts' that is not open to queries",
        ),
        ("SELECT note FROM sqlreads_transactions", "column 'note' of 'sqlreads_transactions' is not open"),
        (
            "SELECT * FROM sqlreads_accounts",
            "reads every column of 'sqlreads_accounts', and balance, pin are",
        ),
        ("SELECT row_to_json(a) FROM sqlreads_accounts a", "reads whole rows of 'sqlreads_accounts'"),
        ("SELECT nope FROM sqlreads_accounts", "Column 'nope' could not be resolved"),
        ("SELECT id FROM sqlreads_accounts, sqlreads_transactions", "Column 'id' could not be resolved"),
        ("SELECT * FROM pg_shadow", "table 'pg_shadow' is not open to queries"),
        ("SELECT table_to_xml('sqlreads_accounts', true, false, '')", "table_to_xml() reads data by name"),
    ],
)
def test_refusals_name_what_is_wrong(sql: str, expected: str) -> None:
    with pytest.raises(UnsafeSql) as refused:
        check(sql, "postgres")
    assert expected in str(refused.value)


def test_the_qualified_query_is_what_runs() -> None:
    """Every column carries its table, so the database cannot resolve a name differently."""
    assert check("SELECT owner FROM sqlreads_accounts a WHERE id = 'ACC-1' ORDER BY owner", "postgres") == (
        'SELECT "a"."owner" AS "owner" FROM "sqlreads_accounts" AS "a" WHERE "a"."id" = \'ACC-1\' ORDER BY "owner"'
    )
    # A * on an open table becomes the columns known now: one added later is not read.
    assert '"b"."city"' in check("SELECT * FROM sqlreads_branches b", "sqlite")


# -- end to end ----------------------------------------------------------------------------


async def _setup(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            for statement in DROP + SCHEMA:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def _driver(url: str) -> str:
    return (
        url.replace("sqlite://", "sqlite+aiosqlite://")
        .replace("postgresql://", "postgresql+asyncpg://")
        .replace("mysql://", "mysql+aiomysql://")
    )


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = {
        "sqlite": f"sqlite:///{tmp_path / 'reads.db'}",
        "postgresql": POSTGRES_URL,
        "mariadb": MARIADB_URL,
    }[request.param]
    try:
        await _setup(_driver(url))
    except (OSError, DBAPIError) as exc:
        need_service(f"{request.param} at {url} is not reachable ({type(exc).__name__})")
    return url


class Connector(SqlConnector):
    specs: list[ToolSpec]


@pytest.fixture
async def analyst(database: str) -> AsyncIterator[tuple[Connector, list[str]]]:
    """The connector, and every statement it sends to the database (recorded as sent)."""
    backend = SqlBackend.model_validate({"sql": database, "analyst": {"tables": TABLES, "max_rows": 50}})
    sql = Connector("bank", backend, base_dir=Path("."), redactor=Redactor(), source="pasarela.yaml")
    sql.specs = await sql.load()  # loaded once: the columns are read on the first call
    sent: list[str] = []
    assert sql._read_engine is not None
    event.listen(sql._read_engine.sync_engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    yield sql, sent
    await sql.aclose()


async def ask(sql: Connector, query: str) -> Any:
    (spec,) = sql.specs
    return (await sql.invoke(spec, {"sql": query})).data


async def test_the_reported_bypass_is_real_and_refused(
    database: str, analyst: tuple[Connector, list[str]]
) -> None:
    attack = "SELECT owner, 1 AS pin FROM sqlreads_accounts WHERE id = 'ACC-1' GROUP BY owner HAVING max(pin) LIKE '1%'"
    engine = create_async_engine(_driver(database), poolclass=NullPool)
    async with engine.connect() as conn:  # straight to the database, it leaks a pin digit
        assert len((await conn.execute(text(attack))).all()) == 1
        assert (await conn.execute(text(attack.replace("'1%'", "'9%'")))).all() == []
    await engine.dispose()
    sql, sent = analyst
    with pytest.raises(InvalidArguments, match="the name 'pin' is a column of 'sqlreads_accounts'"):
        await ask(sql, attack)
    assert sent  # the columns were read from the database ...
    assert not any("HAVING" in statement.upper() for statement in sent)  # ... the query never went


async def test_refused_queries_never_reach_the_database(analyst: tuple[Connector, list[str]]) -> None:
    sql, sent = analyst
    await ask(sql, "SELECT count(*) AS n FROM sqlreads_accounts")  # reads the columns once
    sent.clear()
    dialect = sql.dialect
    for attack in ATTACKS + (POSTGRES_ATTACKS if dialect == "postgres" else []):
        if (dialect, attack) in NOT_AN_ATTACK:
            continue
        with pytest.raises(InvalidArguments):
            await ask(sql, attack)
    assert sent == []


async def test_allowed_queries_return_rows(analyst: tuple[Connector, list[str]]) -> None:
    sql, sent = analyst
    for query in LEGITIMATE:
        if query.startswith("SELECT b.*") and sql.dialect == "mysql":
            continue  # MySQL refuses a derived table with two columns named id: not a guard matter
        data = await ask(sql, query)
        assert data["row_count"] >= 1, query
    joined = await ask(
        sql,
        "SELECT a.owner, count(*) AS n FROM sqlreads_accounts a JOIN sqlreads_transactions t "
        "ON t.account_id = a.id GROUP BY a.owner ORDER BY n DESC",
    )
    assert joined["rows"] == [{"owner": "John Doe", "n": 2}, {"owner": "Maria Garcia", "n": 1}]
    assert (await ask(sql, "SELECT * FROM sqlreads_branches ORDER BY id"))["rows"][1] == {
        "id": 2,
        "city": "Lima",
    }
    assert any(
        '"sqlreads_accounts"' in s or "`sqlreads_accounts`" in s for s in sent
    )  # the qualified form ran


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT " + "(" * 300 + "1" + ")" * 300, "nested too deeply"),
        ("", "expected exactly one statement, found 0"),
        ("   ;  ", "expected exactly one statement, found 0"),
        (
            "SELECT id FROM sqlreads_accounts a JOIN sqlreads_transactions t ON TRUE",
            "Column 'id' could not be",
        ),
        ("SELECT a.x.y FROM sqlreads_accounts a", "Unknown column: x"),
    ],
)
def test_odd_queries_get_a_clear_refusal_not_a_crash(sql: str, expected: str) -> None:
    with pytest.raises(UnsafeSql, match=re.escape(expected)):
        check(sql, "postgres")


async def test_a_query_longer_than_max_sql_length_is_refused_before_any_work(tmp_path: Path) -> None:
    backend = SqlBackend.model_validate(
        {"sql": f"sqlite:///{tmp_path / 'none.db'}", "analyst": {"tables": TABLES, "max_sql_length": 100}}
    )
    sql = SqlConnector("bank", backend, base_dir=Path("."), redactor=Redactor(), source="pasarela.yaml")
    (spec,) = await sql.load()
    assert spec.input_schema["properties"]["sql"]["maxLength"] == 100
    long = "SELECT id FROM sqlreads_accounts WHERE " + " OR ".join(["id = 'x'"] * 20)  # noqa: S608
    with pytest.raises(InvalidArguments, match=r"longer than max_sql_length \(100\)"):
        await sql.invoke(spec, {"sql": long})  # refused before the (absent) database is asked
    await sql.aclose()
