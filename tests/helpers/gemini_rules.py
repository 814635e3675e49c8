"""Gemini's schema dialect, written down independently of the converter so the tests check it:
https://ai.google.dev/api/caching#Schema (the `Schema` object of function declarations)."""

from __future__ import annotations

import re
from typing import Any

ALLOWED = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
}
TYPES = {"string", "number", "integer", "boolean", "array", "object"}
FORMATS = {"string": {"enum", "date-time"}, "number": {"float", "double"}, "integer": {"int32", "int64"}}
# Function names: a letter or underscore first, then letters, digits, _ . : -; at most 64.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")


def declaration_problems(declaration: dict[str, Any]) -> list[str]:
    problems = []
    unknown = set(declaration) - {"name", "description", "parameters", "response"}
    if unknown:
        problems.append(f"declaration: unknown fields {sorted(unknown)}")
    if not NAME.match(str(declaration.get("name", ""))):
        problems.append(f"declaration: bad name {declaration.get('name')!r}")
    if "parameters" in declaration:
        parameters = declaration["parameters"]
        if parameters.get("type") != "object" or not parameters.get("properties"):
            problems.append("parameters: must be an object with at least one property")
        problems += schema_problems(parameters, "parameters")
    if "response" in declaration:
        problems += schema_problems(declaration["response"], "response")
    return problems


def schema_problems(schema: Any, path: str = "$") -> list[str]:
    """Every way `schema` breaks Gemini's rules (empty when it follows them)."""
    if not isinstance(schema, dict):
        return [f"{path}: a schema must be an object, got {type(schema).__name__}"]
    problems = [f"{path}: keyword {k!r} is not accepted" for k in sorted(set(schema) - ALLOWED)]
    kind = schema.get("type")
    if "anyOf" in schema:
        if not isinstance(schema["anyOf"], list) or not schema["anyOf"]:
            problems.append(f"{path}.anyOf: must be a non-empty list")
        else:
            for i, branch in enumerate(schema["anyOf"]):
                problems += schema_problems(branch, f"{path}.anyOf[{i}]")
    elif not isinstance(kind, str) or kind not in TYPES:
        problems.append(f"{path}: type must be one of {sorted(TYPES)}, got {kind!r}")
    if "nullable" in schema and not isinstance(schema["nullable"], bool):
        problems.append(f"{path}: nullable must be a boolean")
    if "enum" in schema and not (
        isinstance(schema["enum"], list)
        and schema["enum"]
        and all(isinstance(v, str) for v in schema["enum"])
    ):
        problems.append(f"{path}: enum must be a non-empty list of strings")
    if "format" in schema and schema["format"] not in FORMATS.get(str(kind), set()):
        problems.append(f"{path}: format {schema['format']!r} is not accepted for type {kind!r}")
    properties = schema.get("properties", {})
    if "properties" in schema and kind != "object":
        problems.append(f"{path}: properties on a non-object")
    for name, sub in properties.items():
        problems += schema_problems(sub, f"{path}.properties.{name}")
    missing = set(schema.get("required", [])) - set(properties)
    if missing:
        problems.append(f"{path}: required names unknown properties {sorted(missing)}")
    if kind == "array":
        if "items" not in schema:
            problems.append(f"{path}: an array needs items")
        else:
            problems += schema_problems(schema["items"], f"{path}.items")
    elif "items" in schema:
        problems.append(f"{path}: items on a non-array")
    return problems
