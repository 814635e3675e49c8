from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_SPECS = REPO.parent / "shared" / "specs" / "openapi"


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
        ):
            await connection.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        await connection.close()
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    problem = anyio.run(_reset_postgres, POSTGRES_URL)
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}; CI must run the PostgreSQL tests")
        pytest.skip(problem)
    return POSTGRES_URL
