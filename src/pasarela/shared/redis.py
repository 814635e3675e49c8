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

from pasarela.shared.base import WINDOW_BUCKETS, SharedStoreError, WindowCounts, bucket_of

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
    def _keys(name: str) -> tuple[str, str, str, str]:
        base = f"{PREFIX}cb:{name}:"
        return base + "opened", base + "probes", base + "ok", base + "window"

    async def opened_at(self, name: str) -> float | None:
        opened, *_ = self._keys(name)
        value = await _guarded(lambda: self._client.get(opened))
        return None if value is None else float(value)

    async def trip(self, name: str, now: float, ttl: float) -> None:
        opened, probes, ok, window = self._keys(name)

        async def run() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(opened, repr(now), px=max(1, int(ttl * 1000)))
                pipe.delete(probes, ok, window)
                await pipe.execute()

        await _guarded(run)

    async def reset(self, name: str) -> None:
        await _guarded(lambda: self._client.delete(*self._keys(name)))

    async def take_probe(self, name: str, limit: int, ttl: float) -> bool:
        _, probes, _, _ = self._keys(name)

        async def run() -> list[Any]:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(probes)
                pipe.pexpire(probes, max(1, int(ttl * 1000)))
                result: list[Any] = await pipe.execute()
                return result

        taken = await _guarded(run)
        return int(taken[0]) <= limit

    async def probe_succeeded(self, name: str) -> int:
        _, _, ok, _ = self._keys(name)
        count: int = await _guarded(lambda: self._client.incr(ok))
        return count

    async def record(self, name: str, now: float, failed: bool, window: float) -> WindowCounts:
        _, _, _, key = self._keys(name)
        current = bucket_of(now, window)

        async def run() -> dict[bytes, bytes]:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, f"{current}:c", 1)
                if failed:
                    pipe.hincrby(key, f"{current}:f", 1)
                pipe.pexpire(key, max(1, int(window * 2000)))
                pipe.hgetall(key)
                result: list[Any] = await pipe.execute()
                counts: dict[bytes, bytes] = result[-1]
                return counts

        fields = await _guarded(run)
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
        if stale:
            await _guarded(lambda: self._client.hdel(key, *[f.decode() for f in stale]))
        return WindowCounts(calls, failures)


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
