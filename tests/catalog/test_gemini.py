"""Tools in Gemini's schema dialect: every rendered schema follows the dialect's rules
(tests/helpers/gemini_rules.py), and what the dialect cannot say is kept for the model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pasarela.catalog.gemini import gemini_declaration, to_gemini
from tests.conftest import TWILIO_SPECS
from tests.connectors.openapi_helpers import connector
from tests.helpers.gemini_rules import declaration_problems, schema_problems

pytestmark = pytest.mark.anyio


def test_a_type_array_with_null_becomes_one_type_and_nullable() -> None:
    # The shape of the demo's `email: {type: [string, "null"]}` fields.
    converted = to_gemini(
        {
            "type": "object",
            "properties": {
                "email": {"type": ["string", "null"], "description": "Where to write"},
                "since": {"type": ["string", "null"], "format": "date"},
                "segment": {"enum": ["retail", "private", None]},
                "tag": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            },
            "required": ["email"],
        }
    )
    assert schema_problems(converted) == []
    properties = converted["properties"]
    assert properties["email"] == {"type": "string", "nullable": True, "description": "Where to write"}
    assert properties["since"] == {"type": "string", "nullable": True, "description": "format: date"}
    assert properties["segment"] == {"type": "string", "enum": ["retail", "private"], "nullable": True}
    assert properties["tag"] == {"type": "integer", "nullable": True}
    assert converted["required"] == ["email"]


def test_references_are_inlined_and_recursion_ends() -> None:
    schema = {
        "type": "object",
        "properties": {"node": {"$ref": "#/$defs/node"}, "other": {"$ref": "#/definitions/missing"}},
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"label": {"type": "string"}, "child": {"$ref": "#/$defs/node"}},
            }
        },
    }
    converted = to_gemini(schema)
    assert schema_problems(converted) == []
    assert "$ref" not in json.dumps(converted)
    node = converted["properties"]["node"]
    assert node["properties"]["label"] == {"type": "string"}
    assert node["properties"]["child"]["properties"]["label"] == {"type": "string"}  # inlined again
    assert converted["properties"]["other"]["type"] == "string"  # a dangling ref: any value


def test_unions_all_of_enums_and_constraints() -> None:
    converted = to_gemini(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "id": {"type": ["string", "integer"], "minLength": 1},
                "level": {"type": "integer", "enum": [1, 2, 3], "exclusiveMinimum": 0, "multipleOf": 1},
                "kind": {"const": "loan"},
                "flag": {"const": True},
                "merged": {
                    "allOf": [
                        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                        {"properties": {"b": {"type": "number", "format": "double"}}},
                    ]
                },
                "either": {"oneOf": [{"type": "string"}, {"type": "array", "items": True}]},
                "anything": {},
                "amount": {"type": "number", "minimum": 0, "maxLength": 3, "format": "decimal"},
                "list": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True},
            },
        }
    )
    assert schema_problems(converted) == []
    p = converted["properties"]
    assert p["id"] == {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]}
    assert p["level"] == {"type": "integer", "description": "one of: 1, 2, 3"}
    assert p["kind"] == {"type": "string", "enum": ["loan"]}
    assert p["flag"] == {"type": "boolean", "description": "one of: true"}
    assert p["merged"]["required"] == ["a"]
    assert p["merged"]["properties"]["b"] == {"type": "number", "format": "double"}
    assert p["either"]["anyOf"][1] == {
        "type": "array",
        "items": {"type": "string", "description": "any JSON value"},
    }
    assert p["anything"] == {"type": "string", "description": "any JSON value"}
    assert p["amount"] == {"type": "number", "minimum": 0, "description": "format: decimal"}
    assert p["list"] == {"type": "array", "items": {"type": "string"}, "minItems": 1}


def test_branches_that_only_constrain_an_object_keep_its_properties() -> None:
    converted = to_gemini(
        {
            "type": "object",
            "properties": {"email": {"type": "string"}, "phone": {"type": "string"}},
            "anyOf": [{"required": ["email"]}, {"required": ["phone"]}],
        }
    )
    assert schema_problems(converted) == []
    assert converted == {
        "type": "object",
        "properties": {"email": {"type": "string"}, "phone": {"type": "string"}},
    }


def test_a_tool_without_arguments_has_no_parameters() -> None:
    declaration = gemini_declaration("ping", "Ping", {"type": "object", "properties": {}})
    assert declaration == {"name": "ping", "description": "Ping"}
    assert declaration_problems(declaration) == []


@pytest.mark.parametrize("spec", sorted(TWILIO_SPECS.glob("twilio_*.json")), ids=lambda p: p.name)
async def test_every_twilio_tool_follows_the_dialect(spec: Any) -> None:
    c = connector(spec)
    tools = await c.load()
    await c.aclose()
    problems = [
        f"{tool.name}: {problem}"
        for tool in tools
        for problem in declaration_problems(
            gemini_declaration(tool.name, tool.description, tool.input_schema)
        )
    ]
    assert problems == []


KEYWORDS = [
    "type",
    "properties",
    "items",
    "anyOf",
    "oneOf",
    "allOf",
    "enum",
    "const",
    "format",
    "$ref",
    "required",
    "nullable",
    "minimum",
    "maxLength",
    "pattern",
    "default",
    "additionalProperties",
    "$defs",
]
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["string", "null", "object", "array", "integer", "date", "#/$defs/a", "#", "#/x/y"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from([*KEYWORDS, "a", "b"]), inner, max_size=4)
    ),
    max_leaves=20,
)


schemas = st.recursive(
    st.fixed_dictionaries({}, optional=dict.fromkeys(KEYWORDS, values)),
    lambda inner: st.fixed_dictionaries(
        {"type": st.sampled_from(["object", "array", ["object", "null"], "string"])},
        optional={
            "properties": st.dictionaries(st.text(max_size=3), inner, max_size=3),
            "items": inner,
            "anyOf": st.lists(inner, max_size=3),
            "allOf": st.lists(inner, max_size=2),
            "required": values,
            "enum": values,
        },
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(schema=schemas)
def test_any_schema_however_malformed_comes_out_in_the_dialect(schema: dict[str, Any]) -> None:
    assert schema_problems(to_gemini(schema)) == []
