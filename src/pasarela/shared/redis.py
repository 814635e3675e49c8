"""redis://: shared state for several replicas, in a real Redis.

Every operation is one round trip (pipelined where it takes several commands), with short
socket timeouts: a Redis outage must cost a call milliseconds, not the default minutes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from limits.aio.storage import RedisStorage
from redis.asyncio import Redis
from redis.exceptions import RedisError

from pasarela.shared.base import WINDOW_BUCKETS, SharedStoreError, WindowCounts, bucket_of, caller_name

PREFIX = "pasarela:"
SOCKET_TIMEOUT = 0.5  # seconds; a healthy Redis on the same network answers in well under 1 ms

T = TypeVar("T")


async def _guarded(operation: Callable[[], Awaitable[T]]) -> T:
    try:
        return await operation()
    except (RedisError, OSError) as exc:
        raise SharedStoreError(f"redis: {type(exc).__name__}: {exc}") from exc


class RedisKeyValue:
    def __init__(self, client: Redis) -> None:
        self._client = client

    async def get(self, key: str) -> bytes | None:
        value = await _guarded(lambda: self._client.get(PREFIX + key))
        return value if isinstance(value, bytes) or value is None else value.encode()

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl > 0:
            await _guarded(lambda: self._client.set(PREFIX + key, value, px=max(1, int(ttl * 1000))))

    async def delete_prefix(self, prefix: str) -> int:
        async def run() -> int:
            doomed = [key async for key in self._client.scan_iter(match=_glob(PREFIX + prefix), count=500)]
            if not doomed:
                return 0
            deleted: int = await self._client.unlink(*doomed)
            return deleted

        return await _guarded(run)


def _glob(prefix: str) -> str:
    escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in prefix)
    return escaped + "*"


class RedisBreakers:
    def __init__(self, client: Redis) -> None:
        self._client = client

    @staticmethod
    def _keys(name: str) -> tuple[str, str, str, str, str]:
        base = f"{PREFIX}cb:{name}:"
        return base + "opened", base + "probes", base + "ok", base + "window", base + "failers"

    async def opened_at(self, name: str) -> float | None:
        opened, *_ = self._keys(name)
        value = await _guarded(lambda: self._client.get(opened))
        return None if value is None else float(value)

    async def trip(self, name: str, now: float, ttl: float) -> None:
        opened, probes, ok, window, failers = self._keys(name)

        async def run() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(opened, repr(now), px=max(1, int(ttl * 1000)))
                pipe.delete(probes, ok, window, failers)
                await pipe.execute()

        await _guarded(run)

    async def reset(self, name: str) -> None:
        await _guarded(lambda: self._client.delete(*self._keys(name)))

    async def take_probe(self, name: str, limit: int, ttl: float) -> bool:
        _, probes, _, _, _ = self._keys(name)

        async def run() -> list[Any]:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(probes)
                pipe.pexpire(probes, max(1, int(ttl * 1000)))
                result: list[Any] = await pipe.execute()
                return result

        taken = await _guarded(run)
        return int(taken[0]) <= limit

    async def probe_succeeded(self, name: str) -> int:
        _, _, ok, _, _ = self._keys(name)
        count: int = await _guarded(lambda: self._client.incr(ok))
        return count

    async def record(self, name: str, now: float, failed: bool, window: float) -> WindowCounts:
        key = self._keys(name)[3]
        current = bucket_of(now, window)

        async def run() -> list[Any]:
            async with self._client.pipeline(transaction=True) as pipe:
                _count(pipe, key, current, failed, window)
                pipe.hgetall(key)
                result: list[Any] = await pipe.execute()
                return result

        fields = (await _guarded(run))[-1]
        return await self._tally(key, fields, current)

    async def record_caller(
        self, name: str, caller: str, now: float, failed: bool, window: float
    ) -> tuple[WindowCounts, WindowCounts]:
        _, _, _, key, failers = self._keys(name)
        own = self._keys(caller_name(name, caller))[3]
        current = bucket_of(now, window)

        async def run() -> list[Any]:
            async with self._client.pipeline(transaction=True) as pipe:
                _count(pipe, key, current, failed, window)
                _count(pipe, own, current, failed, window)
                if failed:
                    pipe.zadd(failers, {caller: now})
                    pipe.zremrangebyscore(failers, "-inf", now - window)
                    pipe.pexpire(failers, max(1, int(window * 2000)))
                pipe.hgetall(key)
                pipe.hgetall(own)
                result: list[Any] = await pipe.execute()
                return result

        *_, everyone, mine = await _guarded(run)
        return await self._tally(key, everyone, current), await self._tally(own, mine, current)

    async def isolate(self, name: str, caller: str, now: float, ttl: float) -> None:
        backend = self._keys(name)[3]
        own = self._keys(caller_name(name, caller))[3]

        async def read() -> list[Any]:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hgetall(own)
                pipe.hgetall(backend)
                result: list[Any] = await pipe.execute()
                return result

        mine, everyone = await _guarded(read)
        # Never below zero: the backend's window may have been reset since (it tripped).
        taken = {f: min(int(v), int(everyone[f])) for f, v in mine.items() if f in everyone}

        async def run() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                for field, value in taken.items():
                    pipe.hincrby(backend, field.decode(), -value)
                await pipe.execute()

        if taken:
            await _guarded(run)
        await self.trip(caller_name(name, caller), now, ttl)

    async def release_probe(self, name: str) -> None:
        _, probes, _, _, _ = self._keys(name)
        await _guarded(lambda: self._client.decr(probes))

    async def failing_callers(self, name: str, now: float, window: float, ratio: float, enough: int) -> int:
        failers = self._keys(name)[4]
        current = bucket_of(now, window)
        members = await _guarded(lambda: self._client.zrangebyscore(failers, f"({now - window}", "+inf"))
        found = 0
        for start in range(0, len(members), 50):  # a pipeline per 50 callers, until enough are found
            batch = [m.decode() if isinstance(m, bytes) else str(m) for m in members[start : start + 50]]

            async def run(batch: list[str] = batch) -> list[Any]:
                async with self._client.pipeline(transaction=False) as pipe:
                    for caller in batch:
                        opened, _, _, own, _ = self._keys(caller_name(name, caller))
                        pipe.exists(opened)
                        pipe.hgetall(own)
                    result: list[Any] = await pipe.execute()
                    return result

            answers = await _guarded(run)
            for is_open, fields in zip(answers[::2], answers[1::2], strict=True):
                if is_open or _counts(fields, current)[0].failing(ratio):
                    found += 1
                    if found >= enough:
                        return found
        return found

    async def _tally(self, key: str, fields: dict[bytes, bytes], current: int) -> WindowCounts:
        counts, stale = _counts(fields, current)
        if stale:
            await _guarded(lambda: self._client.hdel(key, *[f.decode() for f in stale]))
        return counts


def _count(pipe: Any, key: str, bucket: int, failed: bool, window: float) -> None:
    pipe.hincrby(key, f"{bucket}:c", 1)
    if failed:
        pipe.hincrby(key, f"{bucket}:f", 1)
    pipe.pexpire(key, max(1, int(window * 2000)))


def _counts(fields: dict[bytes, bytes], current: int) -> tuple[WindowCounts, list[bytes]]:
    """The counts of a window hash ("bucket:c" / "bucket:f" fields) and its fields too old to count."""
    oldest = current - WINDOW_BUCKETS + 1
    calls = failures = 0
    stale: list[bytes] = []
    for field, value in fields.items():
        bucket, _, kind = field.decode().partition(":")
        if int(bucket) < oldest:
            stale.append(field)
        elif kind == "c":
            calls += int(value)
        else:
            failures += int(value)
    return WindowCounts(calls, failures), stale


class RedisSharedState:
    def __init__(self, url: str) -> None:
        self.url = url
        self.remote = True
        options: dict[str, Any] = {
            "socket_timeout": SOCKET_TIMEOUT,
            "socket_connect_timeout": SOCKET_TIMEOUT,
        }
        self._client: Redis = Redis.from_url(url, **options)
        # One connection pool for our keys and the limiter's (limits types its options narrowly).
        shared_pool: dict[str, Any] = {"connection_pool": self._client.connection_pool}
        self.limiter_storage = RedisStorage(
            "async+" + url,
            implementation="redispy",
            wrap_exceptions=True,
            key_prefix=PREFIX + "limits",
            **shared_pool,
        )
        self.cache = RedisKeyValue(self._client)
        self.breakers = RedisBreakers(self._client)

    async def ping(self) -> None:
        await _guarded(self._client.ping)

    async def aclose(self) -> None:
        await self._client.aclose(close_connection_pool=True)
