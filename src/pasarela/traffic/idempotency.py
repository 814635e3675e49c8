"""Idempotency keys for writes, with Stripe's semantics.

A client may send `Idempotency-Key` (REST) or `_meta.idempotency_key` (MCP). The first call
with a key claims it in the durable state store (one row per principal and key, so replicas
sharing PostgreSQL agree); its successful outcome is stored and replayed, marked
`meta.idempotent_replay`, for every retry with the same key. The same key with other
arguments, or while the first call is still running, is a 409. A failed first call releases
the key, so the client's retry runs again.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from sqlalchemy import and_, delete, or_, select, update

from pasarela import jsonsafe
from pasarela.errors import IdempotencyConflict, InvalidRequest
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.state import StateStore
from pasarela.state.tables import idempotency_keys
from pasarela.telemetry.metrics import GatewayMetrics

MAX_KEY_LENGTH = 255
# What the state store keeps (a VARCHAR(255) in PostgreSQL refuses NUL): the one rule for keys,
# checked here for every call and by the doors before a call is built.
KEY_PATTERN = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")


@dataclass(frozen=True, slots=True)
class Claim:
    """What the store holds for a key that was already used."""

    fingerprint: str
    tool: str
    state: str
    outcome: Mapping[str, Any] | None


def fingerprint(tool: str, arguments: Mapping[str, Any]) -> str:
    canonical = jsonsafe.dumps(arguments, sort_keys=True)
    return hashlib.sha256(tool.encode() + b"\x00" + canonical).hexdigest()


class IdempotencyLedger:
    def __init__(self, state: StateStore, ttl: float, abandon_after: float) -> None:
        self._state = state
        self._ttl = ttl
        self._abandon_after = abandon_after

    def _where(self, principal: str, key: str) -> Any:
        table = idempotency_keys
        return and_(table.c.principal == principal, table.c.key == key)

    async def claim(self, principal: str, key: str, tool: str, digest: str) -> Claim | None:
        """Claim `key` for this call; None if claimed now, else what an earlier call left."""
        table = idempotency_keys
        now = time.time()
        async with self._state.engine.begin() as db:
            # An expired key is free again, and so is one whose first call never finished.
            await db.execute(
                delete(table).where(
                    self._where(principal, key),
                    or_(
                        table.c.expires_at < now,
                        and_(table.c.state == "pending", table.c.created_at < now - self._abandon_after),
                    ),
                )
            )
            inserted = await db.execute(
                self._state.insert(table)
                .values(
                    principal=principal,
                    key=key,
                    fingerprint=digest,
                    tool=tool,
                    state="pending",
                    outcome=None,
                    created_at=now,
                    expires_at=now + self._ttl,
                )
                .on_conflict_do_nothing(index_elements=["principal", "key"])
            )
            if inserted.rowcount == 1:
                return None
            row = (await db.execute(select(table).where(self._where(principal, key)))).one()
        outcome = orjson.loads(row.outcome) if row.outcome is not None else None
        return Claim(row.fingerprint, row.tool, row.state, outcome)

    async def complete(self, principal: str, key: str, outcome: Outcome) -> None:
        stored = jsonsafe.dumps({"result": outcome.result, "meta": outcome.public_meta()}).decode()
        async with self._state.engine.begin() as db:
            await db.execute(
                update(idempotency_keys)
                .where(self._where(principal, key))
                .values(state="done", outcome=stored)
            )

    async def release(self, principal: str, key: str) -> None:
        async with self._state.engine.begin() as db:
            await db.execute(delete(idempotency_keys).where(self._where(principal, key)))


class IdempotencyStage:
    name = "idempotency"

    def __init__(self, ledger: IdempotencyLedger, metrics: GatewayMetrics) -> None:
        self._ledger = ledger
        self._metrics = metrics

    def traced(self, call: Call) -> bool:
        return call.idempotency_key is not None

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        key = call.idempotency_key
        if key is None:
            return await call_next(call)
        if not KEY_PATTERN.fullmatch(key):
            raise InvalidRequest(
                f"an idempotency key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
            )
        principal = call.principal.id
        digest = fingerprint(call.tool.name, call.arguments)
        earlier = await self._ledger.claim(principal, key, call.tool.name, digest)
        if earlier is not None:
            return self._replay(call, key, digest, earlier)
        try:
            outcome = await call_next(call)
        except BaseException:
            # Shielded: a cancelled call (the client went away) must not leave its key pending,
            # or every retry would get 409 until the key is abandoned.
            with anyio.CancelScope(shield=True):
                await self._ledger.release(principal, key)
            raise
        with anyio.CancelScope(shield=True):  # the write happened: its retries must replay it
            await self._ledger.complete(principal, key, outcome)
        return outcome

    def _replay(self, call: Call, key: str, digest: str, earlier: Claim) -> Outcome:
        if earlier.fingerprint != digest:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was first used for {earlier.tool} with other arguments; "
                "use a new key for a different request"
            )
        if earlier.state != "done" or earlier.outcome is None:
            raise IdempotencyConflict(
                f"a call with idempotency key {key!r} is still in progress; retry shortly", retry_after=1.0
            )
        self._metrics.idempotent_replays.labels(call.tool.name).inc()
        meta = {**earlier.outcome.get("meta", {}), "idempotent_replay": True}
        return Outcome(earlier.outcome.get("result"), meta)
