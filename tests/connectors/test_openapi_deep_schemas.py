"""A description whose schemas nest absurdly deep is refused with a clear error, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from pasarela.connectors.openapi.schemas import MAX_DEPTH
from pasarela.errors import ConfigError
from tests.connectors.openapi_helpers import load
from tests.helpers.processes import run_pasarela

pytestmark = pytest.mark.anyio


def nested(depth: int) -> str:
    schema = "{type: string}"
    for _ in range(depth - 1):
        schema = f"{{type: array, items: {schema}}}"
    return f"""openapi: 3.0.3
info: {{title: d, version: "1"}}
paths:
  /x:
    post:
      operationId: deep
      requestBody:
        content: {{application/json: {{schema: {schema}}}}}
      responses: {{"200": {{description: ok}}}}
"""


async def test_nesting_up_to_the_limit_converts(tmp_path: Path) -> None:
    spec = tmp_path / "deep.yaml"
    spec.write_text(nested(MAX_DEPTH))
    tools = await load(spec, base_url="http://127.0.0.1:9")
    node = tools["deep"].input_schema["properties"]["body"]
    for _ in range(MAX_DEPTH - 1):
        node = node["items"]
    assert node == {"type": "string"}


async def test_deeper_nesting_is_a_config_error_naming_the_operation(tmp_path: Path) -> None:
    spec = tmp_path / "deep.yaml"
    spec.write_text(nested(MAX_DEPTH + 1))
    with pytest.raises(ConfigError, match=f"POST /x: a schema nests deeper than {MAX_DEPTH} levels"):
        await load(spec, base_url="http://127.0.0.1:9")


@pytest.mark.parametrize("depth", [MAX_DEPTH, 300])
def test_tools_list_never_shows_a_traceback(tmp_path: Path, depth: int) -> None:
    (tmp_path / "deep.yaml").write_text(nested(depth))
    config = tmp_path / "pasarela.yaml"
    config.write_text(
        "version: 1\nbackends:\n  d: {openapi: deep.yaml, base_url: 'http://127.0.0.1:9'}\naccess: {}\n"
    )
    for _ in range(2):  # the second run reads the cache entry and compares pins
        done = run_pasarela("tools", "list", "-c", str(config))
        assert "Traceback" not in done.stderr
        assert done.returncode == (0 if depth == MAX_DEPTH else 1), done.stderr
