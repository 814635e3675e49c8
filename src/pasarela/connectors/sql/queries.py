"""Named queries and the analyst tool as ToolSpecs, checked once when the backend loads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlglot import exp

from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.config.sql import SqlAnalystSettings, SqlQuerySettings
from pasarela.connectors.sql.guard import UnsafeSql, parse_one, placeholders, require_read_only

ANALYST_ORIGIN = "\x00analyst"  # the analyst tool's origin: no query name can clash with it

ROWS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rows": {"type": "array", "items": {"type": "object"}},
        "row_count": {"type": "integer"},
        "truncated": {"type": "boolean", "description": "More rows matched than max_rows"},
    },
}


@dataclass(frozen=True, slots=True)
class NamedQuery:
    sql: str
    read_only: bool
    max_rows: int
    defaults: Mapping[str, Any]


def build_query(
    name: str, query: SqlQuerySettings, backend: str, dialect: str, *, read_only: bool, max_rows: int
) -> tuple[ToolSpec, NamedQuery]:
    """The tool for one named query; raises ValueError with what is wrong."""
    try:
        statement = parse_one(query.sql, dialect)
        if read_only:
            require_read_only(statement)
    except UnsafeSql as exc:
        raise ValueError(f"sql: {exc}") from None
    used = placeholders(statement)
    declared = set(query.parameters)
    if missing := sorted(used - declared):
        raise ValueError(f"sql uses :{', :'.join(missing)} but parameters does not declare it")
    if unused := sorted(declared - used):
        raise ValueError(f"parameters declares {', '.join(unused)} but the sql never uses it")
    for param, schema in query.parameters.items():
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"parameters.{param}: not a valid JSON Schema: {exc.message}") from None
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {param: dict(schema) for param, schema in query.parameters.items()},
        "additionalProperties": False,
    }
    required = [param for param, schema in query.parameters.items() if "default" not in schema]
    if required:
        input_schema["required"] = required
    spec = ToolSpec(
        name=name,
        description=query.description or f"Runs the {name} query",
        input_schema=input_schema,
        backend=backend,
        origin=name,
        output_schema=ROWS_SCHEMA,
        annotations=ToolAnnotations(
            read_only=read_only,
            destructive=not read_only and isinstance(statement, exp.Delete | exp.Drop | exp.TruncateTable),
            idempotent=read_only,
            open_world=False,
        ),
        tags=("sql",),
    )
    defaults = {p: s["default"] for p, s in query.parameters.items() if "default" in s}
    return spec, NamedQuery(query.sql, read_only, max_rows, defaults)


def analyst_tool(settings: SqlAnalystSettings, backend: str) -> ToolSpec:
    tables = "; ".join(
        f"{table} ({'all columns' if cols == '*' else ', '.join(cols)})"
        for table, cols in settings.tables.items()
    )
    return ToolSpec(
        name=settings.name,
        description=f"{settings.description}. Tables: {tables}. At most {settings.max_rows} rows.",
        input_schema={
            "type": "object",
            "properties": {
                "sql": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": settings.max_sql_length,
                    "description": "One SELECT statement",
                }
            },
            "required": ["sql"],
            "additionalProperties": False,
        },
        backend=backend,
        origin=ANALYST_ORIGIN,
        output_schema=ROWS_SCHEMA,
        annotations=ToolAnnotations(read_only=True, destructive=False, idempotent=True, open_world=False),
        tags=("sql", "analyst"),
    )
