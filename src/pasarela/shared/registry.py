"""Open the shared state named by the `shared:` URL, from an explicit registry of backends."""

from __future__ import annotations

from collections.abc import Callable

from pasarela.errors import ConfigError, ConfigProblem
from pasarela.shared.base import SharedState, SharedStoreError
from pasarela.shared.memory import MemorySharedState


def _memory(url: str, max_entries: int) -> SharedState:
    return MemorySharedState(url, max_entries=max_entries)


def _redis(url: str, max_entries: int) -> SharedState:
    try:
        from pasarela.shared.redis import RedisSharedState
    except ModuleNotFoundError as exc:
        raise ConfigError(
            [ConfigProblem("<config>", "shared", f"redis:// needs {exc.name}: pip install 'pasarela[redis]'")]
        ) from None
    return RedisSharedState(url)


SHARED_BACKENDS: dict[str, Callable[[str, int], SharedState]] = {
    "memory": _memory,
    "redis": _redis,
    "rediss": _redis,
}


async def open_shared(url: str, *, max_entries: int = 10_000, source: str = "<config>") -> SharedState:
    """Open and check the shared store; an unreachable Redis at start-up is a warning, not fatal.

    Replicas must keep serving through a Redis outage (each limit has its `on_store_error`),
    so starting during one is allowed too; the caller logs the returned problem.
    """
    scheme = url.split("://", 1)[0]
    backend = SHARED_BACKENDS.get(scheme)
    if backend is None:
        expected = ", ".join(f"{s}://" for s in SHARED_BACKENDS)
        raise ConfigError(
            [ConfigProblem(source, "shared", f"unknown scheme {scheme!r}: expected one of {expected}")]
        )
    return backend(url, max_entries)


async def reachable(shared: SharedState) -> str | None:
    """None when the store answers, else what went wrong."""
    try:
        await shared.ping()
    except SharedStoreError as exc:
        return str(exc)
    return None
