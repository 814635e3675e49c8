"""Group commit for events that arrive one by one (webhooks): appends waiting while a commit is
in flight share the next transaction, as the audit writer's records do.

Nothing is added to a lone event's latency (it is written at once); under load, each commit
takes everything that queued behind the previous one, so appends stop taking turns on the log's
head row one transaction each. Each caller still gets its own answer only after the transaction
holding its event has committed: a webhook's 2xx keeps meaning "stored"."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pasarela.events.log import EventLog
from pasarela.events.model import Appended, NewEvent

MAX_BATCH = 500  # events in one transaction, at most


class GroupAppender:
    def __init__(self, log: EventLog, max_batch: int = MAX_BATCH) -> None:
        self.log = log
        self.max_batch = max_batch
        self._queue: list[tuple[NewEvent, asyncio.Future[Appended]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0  # observable: transactions, not events

    async def append(self, event: NewEvent) -> Appended:
        """Store `event` (once per source and id); returns once its transaction has committed."""
        committed: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.append((event, committed))
        if self._writer is None or self._writer.done():
            # A task of its own: a caller that goes away must not take its neighbours' commit with it.
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name="pasarela-events-appender"
            )
        return await committed

    async def _write(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                results: Sequence[Appended] = await self.log.append([event for event, _ in batch])
            except Exception as exc:  # noqa: BLE001 - whatever failed, each caller of the batch is told: nothing it sent was stored
                for _, committed in batch:
                    if not committed.done():
                        committed.set_exception(exc)
                continue
            except BaseException:  # cancelled (shutdown): the callers are told so, never left waiting
                waiting, self._queue = batch + self._queue, []
                for _, committed in waiting:
                    committed.cancel()
                raise
            self.commits += 1
            for (_, committed), result in zip(batch, results, strict=True):
                if not committed.done():
                    committed.set_result(result)
