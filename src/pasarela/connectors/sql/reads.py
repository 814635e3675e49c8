"""What an analyst's SELECT reads, column by column, decided by sqlglot's own name resolution.

Every column reference is qualified against the database's real columns (introspected, not
the allowlist), so a name resolves to the table the database would read it from, in every
clause, subquery, CTE, join (USING and NATURAL included) and window. The *qualified*
statement is what runs: the database is never left to resolve a bare name differently. What
cannot be resolved, or could be two things, is refused (fail closed).

Aliases never hide a read: an output may not be named after a column that is closed to
queries (`SELECT 1 AS ssn … HAVING max(ssn)`), since engines disagree on which one a bare
name in GROUP BY / HAVING / ORDER BY means. Whole-row references (`SELECT p FROM people p`,
`row_to_json(p)`, `to_jsonb(p.*)`, `(p).ssn`) and `*` read every column of their table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import MappingSchema, normalize_name

from pasarela.connectors.sql.guard import UnsafeSql

# Functions that read data they are not handed (a table's name or SQL text): no allowlist
# can see through them.
READS_BY_NAME = frozenset(
    {
        "ts_stat",
        "ts_rewrite",
        "lo_get",
        "lo_open",
        "loread",
        "pg_stat_file",
        "current_setting",
        "fts3_tokenizer",
    }
)
# Table functions in FROM that only turn their (checked) arguments into rows.
TABLE_FUNCTIONS = frozenset(
    {
        "generate_series",
        "unnest",
        "json_each",
        "json_tree",
        "json_each_text",
        "jsonb_each",
        "jsonb_each_text",
        "json_array_elements",
        "json_array_elements_text",
        "jsonb_array_elements",
        "jsonb_array_elements_text",
    }
)


@dataclass(frozen=True, slots=True)
class Catalog:
    """The real columns of the allowed tables and the ones open to queries, names normalized."""

    dialect: str
    columns: Mapping[str, Sequence[str]]
    open: Mapping[str, frozenset[str]]
    whole: frozenset[str]  # the tables open with "*"

    @classmethod
    def build(
        cls, dialect: str, real: Mapping[str, Sequence[str]], allowed: Mapping[str, Sequence[str] | str]
    ) -> Catalog:
        def norm(name: str, *, table: bool = False) -> str:
            return normalize_name(name, dialect=dialect, is_table=table).name

        allowed_by_name = {norm(t, table=True): cols for t, cols in allowed.items()}
        columns: dict[str, list[str]] = {}
        open_: dict[str, frozenset[str]] = {}
        for table, cols in real.items():
            name = norm(table, table=True)
            if name not in allowed_by_name:
                continue
            columns[name] = [norm(c) for c in cols]
            allow = allowed_by_name[name]
            open_[name] = frozenset(columns[name] if allow == "*" else (norm(c) for c in allow))
        whole = frozenset(t for t in columns if allowed_by_name[t] == "*")
        return cls(dialect, columns, open_, whole)

    def closed(self, table: str) -> list[str]:
        return [c for c in self.columns[table] if c not in self.open[table]]


def checked_select(statement: exp.Expr, catalog: Catalog) -> exp.Expr:
    """The statement qualified column by column; UnsafeSql if it reads anything closed."""
    _refuse_opaque_functions(statement)
    try:
        # Tables and `*` first, on the query as written: the clearest refusals.
        for scope in traverse_scope(statement):
            list(_check_tables(scope, catalog))
            for node in scope.walk():
                if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Column):
                    _check_star(node, scope, catalog, expanded=True)
                elif isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
                    _require_whole(
                        _physical(_source(node.table, scope), catalog), catalog, node, expanded=True
                    )
        _refuse_shadowing_aliases(statement, catalog)
        schema = MappingSchema(
            {t: dict.fromkeys(cols, "text") for t, cols in catalog.columns.items()}, dialect=catalog.dialect
        )
        qualified = qualify(statement.copy(), dialect=catalog.dialect, schema=schema)
        scopes = list(traverse_scope(qualified))
    except UnsafeSql:
        raise
    except SqlglotError as exc:
        raise UnsafeSql(f"cannot tell what the query reads: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise UnsafeSql("cannot tell what the query reads: it is nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - an analysis that breaks must refuse, never wave through
        raise UnsafeSql(f"cannot tell what the query reads ({type(exc).__name__})") from None
    seen: set[int] = set()
    for scope in scopes:
        seen.update(_check_tables(scope, catalog))
        for node in scope.walk():
            if id(node) in seen:
                continue
            if isinstance(node, exp.Column | exp.TableColumn) and _check_column(node, scope, catalog):
                seen.add(id(node))
            elif isinstance(node, exp.Star) and not isinstance(node.parent, exp.Column):
                _check_star(node, scope, catalog, expanded=False)
    for node in qualified.find_all(exp.Column, exp.TableColumn, exp.Table):
        if id(node) not in seen:
            raise UnsafeSql(f"cannot tell what {node.sql(dialect=catalog.dialect)} reads")
    return qualified


def _refuse_opaque_functions(statement: exp.Expr) -> None:
    for node in statement.walk():
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            raise UnsafeSql(f"call functions without a schema: {node.sql()}")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in READS_BY_NAME or "_to_xml" in name or name.startswith("dblink"):
                raise UnsafeSql(f"{name}() reads data by name, past the allowlist")


def _refuse_shadowing_aliases(statement: exp.Expr, catalog: Catalog) -> None:
    closed: dict[str, str] = {}
    for table in statement.find_all(exp.Table):
        name = normalize_name(table.name, dialect=catalog.dialect, is_table=True).name
        if name in catalog.columns:
            closed.update((column, name) for column in catalog.closed(name))
    for alias in _aliases(statement):
        name = normalize_name(alias, dialect=catalog.dialect).name
        if name in closed:
            raise UnsafeSql(
                f"the name {alias!r} is a column of {closed[name]!r} that is not open to queries: "
                "give the output another name"
            )


def _aliases(statement: exp.Expr) -> Iterator[str]:
    for node in statement.find_all(exp.Alias, exp.TableAlias):
        if isinstance(node, exp.Alias):
            yield node.alias
        elif isinstance(node, exp.TableAlias):
            yield from (column.name for column in node.columns)


def _check_tables(scope: Scope, catalog: Catalog) -> Iterator[int]:
    """Every table the scope reads must be open; yields the ids of the ones checked."""
    for table in scope.tables:
        source = scope.sources.get(table.alias_or_name)
        if isinstance(source, Scope):  # a CTE
            yield id(table)
            continue
        if isinstance(table.this, exp.Func):
            func = table.this
            name = (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()
            if name not in TABLE_FUNCTIONS:
                raise UnsafeSql(f"the table function {name}() is not open to queries")
        elif table.args.get("db") is not None or table.args.get("catalog") is not None:
            raise UnsafeSql(f"name tables without a schema: {table.sql(dialect=catalog.dialect)}")
        elif _physical(table, catalog) not in catalog.columns:
            raise UnsafeSql(
                f"table {table.name!r} is not open to queries (open: {', '.join(sorted(catalog.columns))})"
            )
        yield id(table)
    for udtf in scope.udtfs:  # LATERAL (…), UNNEST(…): their arguments are their own scope
        for table in udtf.find_all(exp.Table):
            if isinstance(scope.sources.get(table.alias_or_name), Scope):
                yield id(table)


def _source(name: str, scope: Scope | None) -> exp.Expr | Scope | None:
    """What a table name or alias means in a scope: nearest first (correlated subqueries)."""
    while scope is not None:
        if name in scope.sources:
            return scope.sources[name]
        scope = scope.parent
    return None


def _physical(source: exp.Expr | Scope | None, catalog: Catalog) -> str | None:
    """The (normalized) name of the table a source reads, if it is one."""
    if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
        return normalize_name(source.this, dialect=catalog.dialect, is_table=True).name
    return None


def _check_column(column: exp.Column | exp.TableColumn, scope: Scope, catalog: Catalog) -> bool:
    """True once the column is known to read only open data; False if not resolvable here."""
    if isinstance(column, exp.TableColumn):  # a whole row: `SELECT p FROM people p`, row_to_json(p)
        if (source := _source(column.name, scope)) is None:
            return False
        _require_whole(_physical(source, catalog), catalog, column, expanded=False)
        return True
    if not column.table:
        query = scope.expression
        selects = {s.alias_or_name for s in query.selects} if isinstance(query, exp.Query) else set()
        return column.name in selects  # a reference to an output (ORDER BY total)
    source = _source(column.table, scope)
    if source is None:
        return False
    table = _physical(source, catalog)
    if table is None:  # a subquery, CTE or table function: its own reads are checked there
        return True
    if isinstance(column.this, exp.Star):
        _require_whole(table, catalog, column, expanded=False)
    elif column.name not in catalog.open[table]:
        raise UnsafeSql(_closed_message(table, column.name, catalog))
    return True


def _check_star(star: exp.Star, scope: Scope, catalog: Catalog, *, expanded: bool) -> None:
    if isinstance(star.parent, exp.Count):
        return  # count(*) counts rows, reads no column
    for _, source in scope.selected_sources.values():
        _require_whole(_physical(source, catalog), catalog, star, expanded=expanded)


def _require_whole(table: str | None, catalog: Catalog, node: exp.Expr, *, expanded: bool) -> None:
    """A `*` or a whole row reads every column of its table.

    A `*` in the select list is expanded to the columns known now (and those are what run);
    a whole row is read by the database as it is when the query runs, columns added since
    included, so only a table open with "*" may be read whole.
    """
    if table is None:
        return
    what = node.sql(dialect=catalog.dialect)
    if expanded and (closed := catalog.closed(table)):
        raise UnsafeSql(
            f"{what} reads every column of {table!r}, and {', '.join(closed)} "
            f"{'is' if len(closed) == 1 else 'are'} not open to queries: name the columns "
            f"({', '.join(sorted(catalog.open[table]))})"
        )
    if not expanded and table not in catalog.whole:
        raise UnsafeSql(
            f"{what} reads whole rows of {table!r}, which is not open to queries as a whole: "
            f"name the columns ({', '.join(sorted(catalog.open[table]))})"
        )


def _closed_message(table: str, column: str, catalog: Catalog) -> str:
    return (
        f"column {column!r} of {table!r} is not open to queries "
        f"(open: {', '.join(sorted(catalog.open[table])) or 'none'})"
    )
