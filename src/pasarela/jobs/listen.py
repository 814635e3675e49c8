"""PostgreSQL LISTEN for new jobs, on a connection of its own, re-established when it drops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import structlog

from pasarela.jobs.store import NOTIFY_CHANNEL
from pasarela.state import StateStore

log = structlog.get_logger("pasarela.jobs")


async def listen(state: StateStore, wake: Callable[[], None], channel: str = NOTIFY_CHANNEL) -> None:
    """Call `wake` on every NOTIFY on `channel`, until cancelled."""

    def notified(*_: Any) -> None:
        wake()

    while True:
        try:
            async with state.engine.connect() as connection:
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection  # asyncpg's own connection
                await driver.add_listener(channel, notified)
                try:
                    while not driver.is_closed():  # noqa: ASYNC110 - the database's connection, not ours to signal
                        await anyio.sleep(5)
                finally:
                    with anyio.CancelScope(shield=True):
                        if not driver.is_closed():
                            await driver.remove_listener(channel, notified)
        except Exception as exc:  # noqa: BLE001 - any driver failure: polling carries on, listen again soon
            log.warning("jobs_listen_lost", error=f"{type(exc).__name__}: {exc}")
        await anyio.sleep(2)
