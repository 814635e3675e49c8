from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connectors.a2a.desk_agent import DeskAgent


@pytest.fixture
def desk() -> Iterator[DeskAgent]:
    with DeskAgent() as agent:
        yield agent


@pytest.fixture
def polled_desk() -> Iterator[DeskAgent]:
    """A Desk agent whose card says it does not stream: its tasks are followed by tasks/get."""
    with DeskAgent(streaming=False) as agent:
        yield agent
