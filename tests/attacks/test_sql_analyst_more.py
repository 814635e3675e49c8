"""Attack: read a closed column of the SQL analyst tool by tricks beyond the corpus of
tests/connectors/test_sql_analyst.py — dialect quirks (SQLite brackets and backticks, rowid
aliases, PostgreSQL U&"" identifiers, composite casts, LATERAL/unnest, GROUPING SETS, ordered
aggregates, OFFSET/FETCH subqueries; MySQL SOUNDS LIKE, MATCH, ELT, HAVING on a hidden column,
STRAIGHT_JOIN USING), statistics and XML catalogue functions, and comments that MySQL/MariaDB
would execute (`/*!...*/`) or that could close early in the regenerated SQL. All held: this file
keeps them held."""

from __future__ import annotations

import pytest

from pasarela.connectors.sql.guard import UnsafeSql
from tests.connectors.test_sql_analyst import check

REFUSED = [
    ("sqlite", "SELECT id FROM sqlreads_accounts WHERE [pin] = '1234'"),
    ("sqlite", "SELECT id FROM sqlreads_accounts WHERE `pin` = '1234'"),
    ("postgres", "SELECT id FROM sqlreads_accounts WHERE U&\"p\\0069n\" = '1234'"),
    ("sqlite", "SELECT id FROM sqlreads_accounts WHERE _rowid_ > 0"),
    ("sqlite", "SELECT id FROM sqlreads_accounts WHERE oid > 0"),
    ("postgres", "SELECT most_common_vals::text AS v FROM pg_stats WHERE attname = 'pin'"),
    ("postgres", "SELECT database_to_xml(true, false, '') AS x"),
    ("postgres", "SELECT cursor_to_xml('c', 1, true, false, '') AS x"),
    ("postgres", "SELECT schema_to_xml('public', true, false, '') AS x"),
    ("postgres", "SELECT table_to_xml_and_xmlschema('sqlreads_accounts', true, false, '') AS x"),
    (
        "postgres",
        "SELECT query_to_xml_and_xmlschema('select pin from sqlreads_accounts', true, false, '') AS x",
    ),
    ("postgres", "SELECT xpath('/x', query_to_xml('select 1', true,false,'')) AS x"),
    ("postgres", "SELECT id FROM sqlreads_accounts a WHERE to_json(a)::text LIKE '%1234%'"),
    ("postgres", "SELECT id FROM sqlreads_accounts a WHERE a IS NOT NULL"),
    ("postgres", "SELECT id FROM sqlreads_accounts a WHERE (a.*)::text LIKE '%1%'"),
    ("postgres", "SELECT id FROM sqlreads_accounts WHERE sqlreads_accounts::text LIKE '%1%'"),
    ("postgres", "SELECT id FROM sqlreads_accounts a ORDER BY a"),
    ("postgres", "SELECT count(*) AS n FROM sqlreads_accounts a GROUP BY a"),
    ("postgres", "SELECT id FROM sqlreads_accounts a WHERE a = a"),
    ("postgres", "SELECT id FROM sqlreads_accounts a WHERE row_to_json(a) IS NOT NULL"),
    ("postgres", "SELECT id FROM sqlreads_accounts WHERE (sqlreads_accounts).pin = '1'"),
    ("postgres", "SELECT id FROM ONLY sqlreads_accounts WHERE pin = '1'"),
    ("postgres", "SELECT id FROM sqlreads_accounts TABLESAMPLE SYSTEM (100) WHERE pin='1'"),
    ("postgres", "TABLE sqlreads_accounts"),
    ("postgres", "VALUES ((SELECT pin FROM sqlreads_accounts LIMIT 1))"),
    ("postgres", "SELECT id FROM sqlreads_accounts WHERE pin IS DISTINCT FROM '1'"),
    ("postgres", "SELECT id FROM sqlreads_accounts a WHERE EXISTS (SELECT a.pin INTERSECT SELECT '1234')"),
    ("postgres", "SELECT x.id FROM sqlreads_accounts, LATERAL (SELECT id, pin) x WHERE x.pin='1'"),
    ("postgres", "SELECT id FROM sqlreads_accounts a JOIN LATERAL unnest(ARRAY[a.pin]) u(v) ON v = '1234'"),
    ("postgres", "SELECT id FROM sqlreads_accounts a, unnest(ARRAY[a.pin]) AS u(v) WHERE v='1'"),
    ("postgres", "SELECT id FROM sqlreads_accounts WHERE 'x' || pin = 'x1234'"),
    (
        "postgres",
        "SELECT id FROM sqlreads_accounts a WHERE jsonb_populate_record(null::sqlreads_accounts, to_jsonb(a)) IS NOT NULL",
    ),
    ("postgres", "SELECT id FROM sqlreads_accounts WHERE id = ANY (SELECT pin FROM sqlreads_accounts)"),
    ("postgres", "SELECT id FROM sqlreads_accounts GROUP BY GROUPING SETS ((id), (pin))"),
    ("postgres", "SELECT id FROM sqlreads_accounts GROUP BY CUBE (id, pin)"),
    ("postgres", "SELECT string_agg(id, ',' ORDER BY pin) AS s FROM sqlreads_accounts"),
    ("postgres", "SELECT array_agg(id ORDER BY pin) AS s FROM sqlreads_accounts"),
    ("postgres", "SELECT id FROM sqlreads_accounts WHERE pin SIMILAR TO '1%'"),
    (
        "postgres",
        "SELECT id FROM sqlreads_accounts FETCH FIRST (SELECT 1 FROM sqlreads_accounts WHERE pin = '1234') ROWS ONLY",
    ),
    (
        "postgres",
        "SELECT id FROM sqlreads_accounts OFFSET (SELECT count(*) FROM sqlreads_accounts WHERE pin LIKE '1%')",
    ),
    (
        "sqlite",
        "SELECT id FROM sqlreads_accounts LIMIT 1 OFFSET (SELECT count(*) FROM sqlreads_accounts WHERE pin LIKE '1%')",
    ),
    ("sqlite", "SELECT id FROM sqlreads_accounts WHERE id IN sqlreads_accounts"),
    ("sqlite", "SELECT iif(pin='1234', 1, 0) AS x FROM sqlreads_accounts"),
    ("sqlite", "SELECT id FROM sqlreads_accounts WHERE pin GLOB '1*'"),
    ("sqlite", "SELECT id FROM sqlreads_accounts WHERE pin REGEXP '1'"),
    ("sqlite", "SELECT id FROM sqlreads_accounts WHERE pin MATCH '1'"),
    ("sqlite", "SELECT id FROM sqlreads_accounts NOT INDEXED WHERE pin = '1'"),
    ("sqlite", "SELECT id FROM sqlreads_accounts WHERE id = 'ACC-1' AND likelihood(pin = '1234', 0.5)"),
    ("sqlite", "SELECT json_group_array(pin) AS j FROM sqlreads_accounts"),
    ("sqlite", 'SELECT id FROM sqlreads_accounts WHERE "sqlreads_accounts"."pin" = \'1\''),
    ("sqlite", "SELECT id FROM main.sqlreads_accounts WHERE pin = '1'"),
    ("sqlite", "SELECT id FROM temp.sqlreads_accounts"),
    ("sqlite", "SELECT * FROM json_each((SELECT pin FROM sqlreads_accounts LIMIT 1))"),
    (
        "sqlite",
        "SELECT * FROM sqlreads_branches WHERE city IN (SELECT value FROM json_each((SELECT json_group_array(pin) FROM sqlreads_accounts)))",
    ),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE pin SOUNDS LIKE '1234'"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE MATCH(pin) AGAINST ('1234')"),
    ("mysql", "SELECT id FROM sqlreads_accounts t WHERE t.`pin` = '1'"),
    ("mysql", "SELECT id FROM test.sqlreads_accounts WHERE pin='1'"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE pin = _utf8mb4'1234'"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE ELT(1, pin) = '1234'"),
    ("mysql", "SELECT id FROM sqlreads_accounts INTO @x"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE id = 'ACC-1' AND 0x31 = pin"),
    ("mysql", "SELECT JSON_ARRAYAGG(pin) AS j FROM sqlreads_accounts"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE `sqlreads_accounts`.pin = '1'"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE (SELECT pin) = '1'"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE id = 'ACC-1' HAVING pin = '1234'"),
    ("mysql", "SELECT id, pin AS p FROM sqlreads_accounts HAVING 0"),
    ("mysql", "SELECT id FROM sqlreads_accounts t1 STRAIGHT_JOIN sqlreads_accounts t2 USING (pin)"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE pin REGEXP '^1'"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE pin RLIKE '^1'"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE id='ACC-1' AND pin BETWEEN '1' AND '2'"),
    ("mysql", "SELECT GROUP_CONCAT(id ORDER BY pin) AS g FROM sqlreads_accounts"),
    ("mysql", "SELECT id FROM sqlreads_accounts LIMIT 1 PROCEDURE ANALYSE()"),
]
# Comments are not executed by the regenerated query: MySQL's `/*!…*/` and MariaDB's `/*M!…*/`
# run their content, and a line comment holding `*/` could close a block comment early.
COMMENTS = [
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE 1=1 /*!50000 AND pin = '1234' */"),
    ("mysql", "SELECT id FROM sqlreads_accounts /*! WHERE pin = '1234' */"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE 1=1 -- x */ AND pin = '1' /*\n"),
    ("sqlite", "SELECT id FROM sqlreads_accounts WHERE 1=1 -- x */ AND pin = '1' /*\n"),
    ("postgres", "SELECT id FROM sqlreads_accounts WHERE 1=1 -- x */ AND pin = '1' /*\n"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE 1 --pin\n"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE id='ACC-1' # AND pin='1'\n"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE 1=1 /*!AND pin='1234'*/"),
    ("mysql", "SELECT id FROM sqlreads_accounts WHERE 1=1 /*M! AND pin = '1234' */"),
]


@pytest.mark.parametrize(("dialect", "sql"), REFUSED)
def test_new_bypass_attempts_are_refused(dialect: str, sql: str) -> None:
    with pytest.raises(UnsafeSql):
        check(sql, dialect)


@pytest.mark.parametrize(("dialect", "sql"), COMMENTS)
def test_comments_never_become_executable(dialect: str, sql: str) -> None:
    try:
        out = check(sql, dialect)
    except UnsafeSql:
        return
    assert "/*!" not in out and "/*M!" not in out.upper(), out
    assert "--" not in out and "#" not in out, out
    # Whatever a comment held stays inside exactly one comment, at the end of the query.
    assert out.count("/*") == 1 and out.endswith("*/") and out.index("*/") == len(out) - 2, out
