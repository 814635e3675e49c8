from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from pasarela.shared import SharedState, open_shared

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Real Twilio descriptions (MIT, licence alongside), shipped so a fresh clone needs nothing else.
TWILIO_SPECS = FIXTURES / "openapi" / "twilio"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


POSTGRES_URL = os.environ.get("PASARELA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def _reset_postgres(url: str) -> str | None:
    """Drop Pasarela's tables in the test database; the reason it cannot, or None."""
    import asyncpg

    try:
        connection = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1), timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {url} is not reachable ({type(exc).__name__}: {exc})"
    try:
        for table in (
            "pasarela_tool_pins",
            "pasarela_audit",
            "pasarela_audit_head",
            "pasarela_audit_checkpoints",
            "pasarela_quota_usage",
            "pasarela_idempotency",
            "pasarela_schema_pins",
            "pasarela_webhook_deliveries",
            "pasarela_webhook_attempts",
            "pasarela_webhook_endpoints",
            "pasarela_alembic_version",
        ):
            await connection.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        await connection.close()
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    need_service(anyio.run(_reset_postgres, POSTGRES_URL))
    return POSTGRES_URL


REDIS_URL = os.environ.get("PASARELA_TEST_REDIS", "redis://127.0.0.1:6379/9")


async def _reset_redis(url: str) -> str | None:
    """Empty the test database of Redis; the reason it cannot, or None."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.flushdb()
    except (RedisError, OSError) as exc:
        return f"Redis at {url} is not reachable ({type(exc).__name__}: {exc})"
    finally:
        await client.aclose()
    return None


def need_service(problem: str | None) -> None:
    """Skip when a service is absent, except under CI=true, where the test must run."""
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}; CI must run these tests")
        pytest.skip(problem)


@pytest.fixture
def redis_url() -> str:
    need_service(anyio.run(_reset_redis, REDIS_URL))
    return REDIS_URL


@pytest.fixture(params=["memory", "redis"])
def shared_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    need_service(anyio.run(_reset_redis, REDIS_URL))
    return REDIS_URL


@pytest.fixture
async def shared(shared_url: str) -> AsyncIterator[SharedState]:
    """The shared store at `shared_url` (memory:// and a real Redis), closed after the test."""
    state = await open_shared(shared_url)
    yield state
    await state.aclose()
