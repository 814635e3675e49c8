from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pasarela.catalog import ToolSpec
from pasarela.config.backends import PythonBackend
from pasarela.connectors.base import Invocation
from pasarela.connectors.python import PythonConnector
from pasarela.errors import ConfigError, InvalidArguments, UpstreamError, UpstreamTimeout
from pasarela.secrets import Redactor
from tests.connectors import slow_tools

pytestmark = pytest.mark.anyio


async def load(target: str, **settings: Any) -> tuple[PythonConnector, dict[str, ToolSpec]]:
    c = PythonConnector(
        "py",
        PythonBackend(python=target, **settings),
        base_dir=Path("."),
        redactor=Redactor(),
        source="t.yaml",
    )
    return c, {t.name: t for t in await c.load()}


async def test_schemas_come_from_type_hints() -> None:
    _, tools = await load("tests.connectors.sample_tools")
    assert sorted(tools) == ["add_numbers", "classify", "explode", "greet", "sleepy"]
    greet = tools["greet"]
    assert greet.description == "Say hello."
    assert greet.input_schema == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "description": "Who to greet"},
            "shout": {"type": "boolean", "default": False},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    assert greet.output_schema is not None
    assert greet.output_schema["properties"]["text"] == {"type": "string"}
    assert greet.annotations.read_only
    assert greet.annotations.idempotent
    assert tools["classify"].input_schema["properties"]["level"]["enum"] == ["low", "high"]
    for spec in tools.values():
        Draft202012Validator.check_schema(spec.input_schema)


async def test_sync_async_and_model_results() -> None:
    c, tools = await load("tests.connectors.sample_tools")
    assert (await c.invoke(tools["greet"], {"name": "Ana", "shout": True})).data == {
        "text": "HELLO, ANA!",
        "shout": True,
    }
    assert (await c.invoke(tools["add_numbers"], {"a": 2, "b": 3})).data == 5


async def test_bad_arguments_and_failures() -> None:
    c, tools = await load("tests.connectors.sample_tools")
    with pytest.raises(InvalidArguments):
        await c.invoke(tools["add_numbers"], {"a": "not a number"})
    with pytest.raises(UpstreamError) as caught:
        await c.invoke(tools["explode"], {})
    assert "secret internal detail" not in caught.value.detail
    with pytest.raises(UpstreamTimeout, match="did not finish within"):
        await c.invoke(tools["sleepy"], {"seconds": 5}, Invocation(timeout=0.1))


async def test_the_backend_timeout_bounds_every_tool_sync_ones_included() -> None:
    c, tools = await load("tests.connectors.slow_tools", timeout=0.2)
    with pytest.raises(UpstreamTimeout) as caught:
        await c.invoke(tools["snooze"], {"seconds": 30})
    assert caught.value.status == 504
    with pytest.raises(UpstreamTimeout):
        await c.invoke(tools["nap"], {"seconds": 2})
    assert not slow_tools.FINISHED.is_set(), "the call answered at its limit, not when the thread ended"
    assert (await c.invoke(tools["snooze"], {"seconds": 0}, Invocation(timeout=5))).data == "done", (
        "a tool's own limit wins"
    )


async def test_module_attribute_selects_one_tool() -> None:
    _, tools = await load("tests.connectors.sample_tools:greet")
    assert list(tools) == ["greet"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.connectors.no_such_module", "cannot import"),
        ("tests.connectors.sample_tools:missing", "has no attribute"),
        ("tests.connectors.sample_tools:not_a_tool", "holds no @tool functions"),
    ],
)
async def test_bad_targets_are_config_errors(target: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        await load(target)
    assert caught.value.problems[0].path == "backends.py.python"
