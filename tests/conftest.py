from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_SPECS = REPO.parent / "shared" / "specs" / "openapi"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
