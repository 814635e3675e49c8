"""Tracing is off at no cost: nothing of the SDK is imported; on, a missing SDK is a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pasarela.config.observability import TracingSettings
from pasarela.errors import ConfigError
from pasarela.telemetry.tracing import build_tracing, require_sdk
from tests.conftest import REPO
from tests.helpers.processes import run_pasarela


def test_the_gateway_imports_no_opentelemetry_sdk_without_tracing() -> None:
    probe = (
        "import sys, pasarela.cli, pasarela.server.app, pasarela.assembly; "
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("missing", ["opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"])
def test_a_missing_sdk_is_named_with_the_extra_that_brings_it(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    for name in [m for m in sys.modules if m == missing or m.startswith(missing + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)  # as if it were not installed
    with pytest.raises(ConfigError) as caught:
        require_sdk(TracingSettings(), "pasarela.yaml")
    (problem,) = caught.value.problems
    assert problem.path == "telemetry.tracing"
    assert "pip install 'pasarela[otel]'" in problem.message and missing in problem.message
    if missing == "opentelemetry.sdk":
        with pytest.raises(ConfigError, match=r"pasarela\[otel\]"):
            build_tracing(TracingSettings(), source="pasarela.yaml")


def test_check_reports_a_wrong_tracing_setting_with_its_key_path(tmp_path: Path) -> None:
    config = tmp_path / "pasarela.yaml"
    config.write_text(
        "version: 1\nbackends: {}\naccess: {}\ntelemetry:\n  tracing: {exporter: zipkin, sampling: 2}\n"
    )
    checked = run_pasarela("check", "-c", str(config))
    assert checked.returncode == 1
    assert "telemetry.tracing.exporter" in checked.stderr and "telemetry.tracing.sampling" in checked.stderr
