"""The shared key-value store behind the cache, on memory:// and redis://."""

from __future__ import annotations

import anyio
import pytest

from pasarela.errors import ConfigError
from pasarela.shared import SharedState, open_shared
from pasarela.shared.memory import MemoryKeyValue

pytestmark = pytest.mark.anyio


async def test_entries_expire_after_their_own_ttl(shared: SharedState) -> None:
    await shared.cache.set("cache:t:short", b"1", 0.2)
    await shared.cache.set("cache:t:long", b"2", 60)
    await anyio.sleep(0.3)
    assert await shared.cache.get("cache:t:short") is None
    assert await shared.cache.get("cache:t:long") == b"2"


async def test_delete_prefix_takes_only_that_prefix_even_with_glob_characters(shared: SharedState) -> None:
    await shared.cache.set("cache:a*[b]:1", b"x", 60)
    await shared.cache.set("cache:a*[b]:2", b"x", 60)
    await shared.cache.set("cache:aXb:1", b"y", 60)  # would match the unescaped glob
    assert await shared.cache.delete_prefix("cache:a*[b]:") == 2
    assert await shared.cache.get("cache:aXb:1") == b"y"


async def test_memory_cache_is_bounded_least_recently_used_first() -> None:
    store = MemoryKeyValue(max_entries=2)
    await store.set("a", b"1", 60)
    await store.set("b", b"2", 60)
    assert await store.get("a") == b"1"  # a is now the most recently used
    await store.set("c", b"3", 60)
    assert await store.get("b") is None
    assert await store.get("a") == b"1" and await store.get("c") == b"3"


async def test_an_unknown_scheme_names_it() -> None:
    with pytest.raises(ConfigError, match="unknown scheme 'memcached'"):
        await open_shared("memcached://x")
