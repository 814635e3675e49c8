"""The demo CRM tells the gateway when a customer changes: a `customer_updated` webhook signed
the Standard Webhooks way, to `POST /v1/events/crm`.

The event is written to an outbox in the same transaction as the change (a change is never
committed without its event, nor an event without its change) and sent from there until the
gateway answers 2xx; a resend carries the same `event_id`, which the gateway stores once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
import sys
import time
import uuid
from collections.abc import Sequence

import httpx
import orjson

from pasarela.config.webhooks import secret_key
from pasarela.demo.common import connect
from pasarela.webhooks.signing import signed_headers

OUTBOX = (
    "CREATE TABLE IF NOT EXISTS outbox (event_id TEXT PRIMARY KEY, body BLOB, attempts INTEGER, next_at REAL)"
)
MAX_WAIT = 30.0  # seconds between attempts, at most


class ChangeEmitter:
    def __init__(self, db_path: str, url: str | None, secret: str | None) -> None:
        self.db_path = db_path
        self.url = url  # None: the gateway takes no events (the changes are still made)
        self._key = secret_key(secret) if secret else b""
        self._wake = asyncio.Event()
        with connect(db_path) as db:
            db.execute(OUTBOX)

    def record(self, db: sqlite3.Connection, customer_id: str, region: str, changed: Sequence[str]) -> None:
        """Queue the event inside the caller's transaction (the change's own)."""
        if self.url is None:
            return
        event_id = f"crm-{uuid.uuid4().hex}"
        body = orjson.dumps(
            {
                "event_type": "customer_updated",
                "event_id": event_id,
                "customer_id": customer_id,
                "region": region,
                "changed_fields": list(changed),
                "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            }
        )
        db.execute("INSERT INTO outbox VALUES (?, ?, 0, 0)", (event_id, body))

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Send what the outbox holds, oldest first, until cancelled."""
        if self.url is None:
            return
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                due = await asyncio.to_thread(self._due)
                for event_id, body, attempts in due:
                    await self._send(client, event_id, body, attempts)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5 if not due else 0.05)

    def _due(self) -> list[tuple[str, bytes, int]]:
        with connect(self.db_path) as db:
            rows = db.execute(
                "SELECT event_id, body, attempts FROM outbox WHERE next_at <= ? ORDER BY rowid LIMIT 50",
                (time.time(),),
            ).fetchall()
        return [(row[0], bytes(row[1]), int(row[2])) for row in rows]

    async def _send(self, client: httpx.AsyncClient, event_id: str, body: bytes, attempts: int) -> None:
        assert self.url is not None
        headers = {
            **signed_headers(self._key, event_id, int(time.time()), body),
            "content-type": "application/json",
        }
        try:
            answer = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        else:
            status = answer.status_code
            if 200 <= status < 300 or (400 <= status < 500 and status not in (408, 429)):
                if status >= 400:  # refused: resending the same bytes can never succeed
                    sys.stderr.write(
                        f"crm: the gateway refused event {event_id}: {status} {answer.text[:200]}\n"
                    )
                await asyncio.to_thread(self._done, event_id)
                return
            outcome = str(status)
        wait = min(MAX_WAIT, 0.5 * 2**attempts)
        if attempts == 0:
            sys.stderr.write(
                f"crm: event {event_id} not delivered ({outcome}); retrying every {wait:g}s or more\n"
            )
        await asyncio.to_thread(self._later, event_id, attempts + 1, time.time() + wait)

    def _done(self, event_id: str) -> None:
        with connect(self.db_path) as db:
            db.execute("DELETE FROM outbox WHERE event_id = ?", (event_id,))

    def _later(self, event_id: str, attempts: int, at: float) -> None:
        with connect(self.db_path) as db:
            db.execute(
                "UPDATE outbox SET attempts = ?, next_at = ? WHERE event_id = ?", (attempts, at, event_id)
            )
