"""Values orjson cannot encode in a backend's description never crash pinning or the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.processes import run_pasarela

HUGE = 2**70
SPEC = f"""openapi: 3.0.3
info: {{title: Huge, version: "1"}}
paths:
  /counters/{{id}}:
    get:
      operationId: getCounter
      parameters:
        - {{name: id, in: path, required: true, schema: {{type: integer, minimum: -{HUGE}, maximum: {HUGE}}}}}
      responses: {{"200": {{description: ok}}}}
"""


@pytest.mark.parametrize("fmt", ["json", "mcp", "openai"])
def test_integer_bounds_beyond_64_bits_are_listed_and_pinned(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "huge.yaml").write_text(SPEC)
    config = tmp_path / "pasarela.yaml"
    config.write_text(
        "version: 1\nbackends:\n  huge: {openapi: huge.yaml, base_url: 'http://127.0.0.1:9'}\naccess: {}\n"
    )
    for _ in range(2):  # the second run compares against the pin the first one stored
        listed = run_pasarela("tools", "list", "--format", fmt, "-c", str(config))
        assert listed.returncode == 0, listed.stderr
        assert "Traceback" not in listed.stderr
    json.loads(listed.stdout)  # standard JSON
    assert str(HUGE) in listed.stdout, "the bound is kept exactly, not rounded"
