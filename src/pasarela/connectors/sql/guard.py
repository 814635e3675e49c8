"""Read-only guards for SQL, by parsing (sqlglot), before anything reaches the database.

A read-only statement must be exactly one query (a SELECT, or a UNION/INTERSECT/EXCEPT of
them) with nothing anywhere inside it that writes or locks: no INSERT/UPDATE/DELETE/MERGE in
a CTE, no `SELECT … INTO`, no DDL, no `FOR UPDATE`, and no call to a function known to have
side effects. Parsing is the first wall; the database's own read-only transaction or
connection is the second (connector.py).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

# Functions that change state, sleep or reach outside the database, per the engines we speak.
SIDE_EFFECT_FUNCTIONS = frozenset(
    {
        # PostgreSQL
        "nextval",
        "setval",
        "set_config",
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "pg_advisory_lock",
        "pg_advisory_xact_lock",
        "pg_try_advisory_lock",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "lo_import",
        "lo_export",
        "lo_unlink",
        "dblink",
        "dblink_exec",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_notify",
        "txid_current",
        "pg_create_restore_point",
        "query_to_xml",
        # MySQL / MariaDB
        "sleep",
        "benchmark",
        "get_lock",
        "release_lock",
        "load_file",
        "sys_exec",
        "sys_eval",
        # SQLite
        "load_extension",
        "writefile",
        "readfile",
        "edit",
    }
)
_WRITES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Into,
    exp.Lock,
    exp.Set,
    exp.TruncateTable,
    exp.Copy,
)
_QUERY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)


class UnsafeSql(ValueError):
    """The statement is not what the tool may run; the message says why."""


def dialect_of(url: str) -> str:
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    return {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}.get(
        scheme, "sqlite"
    )


def parse_one(sql: str, dialect: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        raise UnsafeSql(f"cannot parse the SQL: {str(exc).splitlines()[0]}") from None
    except RecursionError:  # sqlglot's parser recurses per nesting level
        raise UnsafeSql("cannot parse the SQL: it is nested too deeply") from None
    if len(statements) != 1:
        raise UnsafeSql(f"expected exactly one statement, found {len(statements)}")
    return statements[0]


def require_read_only(statement: exp.Expr) -> None:
    if not isinstance(statement, _QUERY_ROOTS):
        raise UnsafeSql(f"a read-only tool must be a single SELECT, not {statement.key.upper()}")
    for node in statement.walk():
        if isinstance(node, _WRITES):
            raise UnsafeSql(f"a read-only tool may not contain {node.key.upper()}")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in SIDE_EFFECT_FUNCTIONS:
                raise UnsafeSql(f"a read-only tool may not call {name}(), which has side effects")


def placeholders(statement: exp.Expr) -> set[str]:
    """The :name parameters a statement uses."""
    return {node.name for node in statement.find_all(exp.Placeholder) if node.name}
