"""The real Twilio descriptions (tests/fixtures/openapi/twilio, MIT): one valid tool per operation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from pasarela.catalog.spec import TOOL_NAME_PATTERN
from pasarela.connectors.openapi.operations import iter_operations
from tests.conftest import TWILIO_SPECS
from tests.connectors.openapi_helpers import connector

TWILIO = sorted(TWILIO_SPECS.glob("twilio_*.json"))

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("spec", TWILIO, ids=lambda p: p.name)
async def test_one_valid_tool_per_operation(spec: Path) -> None:
    document = json.loads(spec.read_text())
    operations = list(iter_operations(document))
    c = connector(spec)
    started = time.perf_counter()
    tools = await c.load()
    elapsed = time.perf_counter() - started
    await c.aclose()
    print(f"{spec.name}: {len(tools)} tools in {elapsed * 1000:.0f} ms")

    assert len(tools) == len(operations) > 50
    names = [t.name for t in tools]
    assert len(set(names)) == len(names)
    for tool in tools:
        assert TOOL_NAME_PATTERN.match(tool.name), tool.name
        assert tool.input_schema["type"] == "object"
        Draft202012Validator.check_schema(tool.input_schema)
        if tool.output_schema is not None:
            Draft202012Validator.check_schema(tool.output_schema)
        assert tool.description


def test_twilio_specs_are_present() -> None:
    assert len(TWILIO) == 2, f"expected the Twilio specs in {TWILIO_SPECS}"


async def test_form_bodies_become_arguments() -> None:
    c = connector(TWILIO_SPECS / "twilio_api_v2010.json")
    tools = {t.name: t for t in await c.load()}
    await c.aclose()
    create_message = tools["CreateMessage"]
    properties = create_message.input_schema["properties"]
    assert {"AccountSid", "To", "Body"} <= set(properties)
    assert "To" in create_message.input_schema["required"]
    assert create_message.annotations.read_only is False
