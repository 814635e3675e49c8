from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connectors.grpc.lab_server import LabServer, compile_descriptor_set


@pytest.fixture(scope="session")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_descriptor_set(tmp_path_factory.mktemp("grpc") / "lab.binpb")


@pytest.fixture
def lab(descriptor_set: Path) -> Iterator[LabServer]:
    with LabServer(descriptor_set) as server:
        yield server


@pytest.fixture
def lab_without_reflection(descriptor_set: Path) -> Iterator[LabServer]:
    with LabServer(descriptor_set, reflection=False) as server:
        yield server
