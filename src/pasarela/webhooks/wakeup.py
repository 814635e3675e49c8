"""Waking the delivery loop when something is queued: at once within the process, across
processes through PostgreSQL's LISTEN/NOTIFY, and by polling when neither reaches it (SQLite
shared by processes, a lost LISTEN connection)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import anyio
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pasarela.state import StateStore

log = structlog.get_logger("pasarela.webhooks")

RECONNECT = 5.0  # seconds between attempts to listen again
CHANNEL = "pasarela_webhooks"  # PostgreSQL NOTIFY channel: "the outbox has something due"


async def wake_listeners(db: AsyncConnection) -> None:
    """On PostgreSQL, tell every listening delivery loop (sent when the transaction commits)."""
    if db.dialect.name == "postgresql":
        await db.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        """Until woken or `timeout`; a wake-up that came while the caller worked returns at once."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()

    async def listen(self, store: StateStore) -> None:
        """LISTEN on the outbox's channel for as long as the caller runs (reconnecting after a loss)."""
        import asyncpg

        dsn = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                connection = await asyncpg.connect(dsn, timeout=10)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("webhooks_listen_failed", error=type(exc).__name__, fallback="polling")
                await anyio.sleep(RECONNECT)
                continue
            lost = asyncio.Event()
            try:
                await connection.add_listener(CHANNEL, self._notified)
                connection.add_termination_listener(lambda _, ended=lost: ended.set())
                self.set()  # anything queued while nobody listened
                await lost.wait()
                log.warning("webhooks_listen_lost", fallback="polling until listening again")
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("webhooks_listen_failed", error=type(exc).__name__, fallback="polling")
            finally:
                with anyio.move_on_after(2, shield=True):
                    await connection.close()
            await anyio.sleep(RECONNECT)

    def _notified(self, *_: Any) -> None:
        self.set()
