"""Time limits enforced by the database itself, not only by our timer.

Cancelling the awaiting task does not stop a query: SQLite keeps computing in its thread,
a server keeps its backend busy. So each dialect is told to stop on its own: SQLite through
a progress handler that aborts past the call's deadline (and `interrupt()` if our timer
fires first), PostgreSQL through `SET LOCAL statement_timeout`, MySQL/MariaDB through the
session's `max_statement_time` / `max_execution_time`.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_DEADLINE = "pasarela_deadline"
# How many SQLite virtual-machine steps between two looks at the clock (cheap, and fine-grained).
_STEPS = 1000
# Server errors that mean "stopped for taking too long".
_PG_CANCELED = "57014"  # query_canceled: statement_timeout
_MYSQL_TIMEOUTS = frozenset({1969, 3024, 1317})  # MariaDB max_statement_time, MySQL max_execution_time


class _Deadline:
    """Per SQLite connection: the monotonic time past which its statement is aborted."""

    def __init__(self) -> None:
        self.at = math.inf

    def passed(self) -> int:
        return 1 if time.monotonic() > self.at else 0  # non-zero aborts the statement


def watch_sqlite(engine: AsyncEngine) -> None:
    """Give every SQLite connection of the engine a deadline, checked as it runs."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        deadline = _Deadline()
        record.info[_DEADLINE] = deadline
        dbapi_connection.run_async(lambda conn: conn.set_progress_handler(deadline.passed, _STEPS))


@asynccontextmanager
async def time_limited(conn: AsyncConnection, dialect: str, seconds: float) -> AsyncIterator[None]:
    """Inside an open transaction: the database stops any statement running past `seconds`."""
    seconds = max(seconds, 0.001)
    if dialect == "postgres":
        await conn.execute(text(f"SET LOCAL statement_timeout = {max(1, math.ceil(seconds * 1000))}"))
        yield
        return
    if dialect == "mysql":
        if conn.dialect.is_mariadb:  # type: ignore[attr-defined]
            await conn.execute(text(f"SET SESSION max_statement_time = {seconds:.3f}"))
        else:
            await conn.execute(text(f"SET SESSION max_execution_time = {max(1, math.ceil(seconds * 1000))}"))
        yield
        return
    raw = await conn.get_raw_connection()
    deadline: _Deadline | None = raw.info.get(_DEADLINE)
    if deadline is None:  # not a watched engine (writes go through one too)
        yield
        return
    deadline.at = time.monotonic() + seconds
    try:
        yield
    except asyncio.CancelledError:
        # Our timer (or a client gone) cancelled us mid-statement: stop the thread now.
        await raw.driver_connection.interrupt()  # type: ignore[union-attr]
        raise
    finally:
        deadline.at = math.inf


def timed_out(orig: BaseException | None) -> bool:
    """Whether a driver error says the database stopped the statement for its time limit."""
    if orig is None:
        return False
    if getattr(orig, "sqlstate", None) == _PG_CANCELED or getattr(orig, "pgcode", None) == _PG_CANCELED:
        return True
    if isinstance(orig, sqlite3.OperationalError) and str(orig).strip() == "interrupted":
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and isinstance(args[0], int) and args[0] in _MYSQL_TIMEOUTS
