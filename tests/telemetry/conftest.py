"""Fixtures the telemetry tests share: a recording upstream and an OTLP/HTTP receiver, each a
real server on its own port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.otlp import OtlpHttpReceiver
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    recorder = RecordingUpstream()
    with ThreadedServer(recorder) as server:
        recorder.url = server.url  # type: ignore[attr-defined]
        yield recorder


@pytest.fixture
def receiver() -> Iterator[OtlpHttpReceiver]:
    otlp = OtlpHttpReceiver()
    with ThreadedServer(otlp) as server:
        otlp.url = server.url  # type: ignore[attr-defined]
        yield otlp
