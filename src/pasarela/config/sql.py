"""Settings of `sql:` backends: declared queries, and an optional analyst query tool."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from pasarela.config.base import Strict

TOOL_NAME = r"^[A-Za-z0-9_-]{1,64}$"


class SqlQuerySettings(Strict):
    """One named query: a tool whose parameters are bound, never interpolated."""

    sql: str = Field(description="The statement, with :name placeholders for the parameters")
    description: str = Field("", description="What agents read about the tool")
    parameters: dict[str, dict[str, Any]] = Field(
        {}, description="Parameter → its JSON Schema (type, bounds, enum, default, description)"
    )
    read_only: bool | None = Field(
        None, description="Default: the backend's read_only. A read-only query must be a single SELECT"
    )
    max_rows: int | None = Field(None, gt=0, description="Overrides the backend's max_rows")


class SqlAnalystSettings(Strict):
    """A `query` tool taking SELECTs over an allowlist of tables and columns, with a forced LIMIT."""

    name: Annotated[str, Field(pattern=TOOL_NAME)] = "query"
    description: str = Field(
        "Run one read-only SQL SELECT over the allowed tables and columns", description="What agents read"
    )
    tables: dict[str, list[str] | Literal["*"]] = Field(
        description="Table → the columns that may be read, or '*' for all of them"
    )
    max_rows: int = Field(200, gt=0, description="Every query gets LIMIT at most this")
    max_sql_length: int = Field(
        10_000, gt=0, le=1_000_000, description="Longest SQL accepted (checking a query costs time)"
    )
