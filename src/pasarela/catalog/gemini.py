"""JSON Schema → Gemini's function-declaration schema dialect (a subset of OpenAPI 3.0's).

Gemini takes one `type` per schema (`nullable: true` instead of `[string, null]`), no `$ref`,
string-only enums, a few formats per type, and refuses keywords outside its list. What it
cannot say is kept for the model in the description ("format: date", "one of: 1, 2, 3")
rather than lost; the gateway still validates every call against the tool's full schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The keywords Gemini's `Schema` object accepts (generativelanguage v1beta).
GEMINI_KEYWORDS = frozenset(
    {
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
)
GEMINI_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
# Formats Gemini accepts per type; any other is refused by the API (kept in the description).
GEMINI_FORMATS: Mapping[str, frozenset[str]] = {
    "string": frozenset({"enum", "date-time"}),
    "number": frozenset({"float", "double"}),
    "integer": frozenset({"int32", "int64"}),
}
_COPIED = (
    "title",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
)
_JSON_TYPES = GEMINI_TYPES | {"null"}
MAX_REF_DEPTH = 8  # a recursive $ref is inlined this deep, then described instead


def gemini_declaration(
    name: str,
    description: str,
    input_schema: Mapping[str, Any],
    output_schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One `functionDeclarations` entry, with `response` when the output is promised. A tool
    without arguments has no `parameters` (Gemini refuses an object with no properties)."""
    out: dict[str, Any] = {"name": name, "description": description}
    parameters = to_gemini(input_schema)
    if parameters.get("properties"):
        out["parameters"] = parameters
    if output_schema is not None:
        out["response"] = to_gemini(output_schema)
    return out


def to_gemini(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` in Gemini's dialect; local `$ref`s (`#/$defs/…`, `#/definitions/…`) inlined."""
    return _Converter(schema).convert(schema, depth=0)


class _Converter:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def convert(self, schema: Any, depth: int) -> dict[str, Any]:
        if not isinstance(schema, Mapping):  # `true` / `false` schemas: anything goes
            return {"type": "string", "description": "any JSON value"}
        found = self._resolved(schema, depth)
        if found is None:
            return {"type": "object", "description": "(recursive: see the enclosing object)"}
        schema, depth = found
        schema = self._merged_all_of(schema, depth)
        notes: list[str] = []
        out: dict[str, Any] = {}
        nullable = False
        branches = schema.get("anyOf") or schema.get("oneOf")
        kinds = _types_of(schema)
        if "null" in kinds:
            nullable = True
            kinds = [k for k in kinds if k != "null"]
        kept: list[Any] = []
        if isinstance(branches, list):
            kept = [b for b in branches if not (isinstance(b, Mapping) and _types_of(b) == ["null"])]
            nullable = nullable or len(kept) < len(branches)
        if kept and not (kinds or "properties" in schema):
            if len(kept) == 1:  # `anyOf: [X, {type: null}]` is X, nullable
                inner = self.convert(kept[0], depth)
                nullable = nullable or inner.pop("nullable", False)
                out.update(inner)
            else:
                out["anyOf"] = [self.convert(b, depth) for b in kept]
        # Branches beside a type only constrain it (`anyOf: [{required: [a]}, …]`): the typed
        # schema is what Gemini can say; the gateway still checks the branches.
        elif len(kinds) > 1:  # `type: [string, integer]`: one type per schema
            out["anyOf"] = [
                self.convert({**_without(schema, "type", "enum"), "type": k}, depth) for k in kinds
            ]
        else:
            kind = kinds[0] if kinds else _inferred(schema)
            if kind is None:
                kind = "string"  # Gemini needs a type: the description says what it stands for
                notes.append("any JSON value")
            self._typed(schema, kind, out, notes, depth)
        if nullable:
            out["nullable"] = True
        description = " ".join(
            p for p in (str(schema.get("description", "") or out.get("description", "")), *notes) if p
        )
        if description:
            out["description"] = description
        return out

    def _typed(
        self, schema: Mapping[str, Any], kind: str, out: dict[str, Any], notes: list[str], depth: int
    ) -> None:
        enum = schema.get("enum")
        if "const" in schema:
            enum = [schema["const"]]
        if isinstance(enum, list):
            values = [v for v in enum if v is not None]
            if None in enum:
                out["nullable"] = True
            if values and all(isinstance(v, str) for v in values):
                kind = "string"
                out["enum"] = values
            elif values:  # Gemini enums are strings only: the values go to the description
                notes.append("one of: " + ", ".join(_plain(v) for v in values))
                kind = kind if kind != "string" or "type" in schema else _kind_of(values[0])
        out["type"] = kind
        fmt = schema.get("format")
        if isinstance(fmt, str):
            if fmt in GEMINI_FORMATS.get(kind, frozenset()) and "enum" not in out:
                out["format"] = fmt
            elif fmt != "enum":
                notes.append(f"format: {fmt}")
        for key in _COPIED:
            if key in schema and _fits(key, schema[key], kind):
                out[key] = schema[key]
        if "default" in schema and schema["default"] is not None:
            out["default"] = schema["default"]
        examples = schema.get("examples")
        if "example" in schema:
            out["example"] = schema["example"]
        elif isinstance(examples, list) and examples:
            out["example"] = examples[0]
        if kind == "object":
            properties = schema.get("properties")
            if isinstance(properties, Mapping) and properties:
                out["properties"] = {str(k): self.convert(v, depth) for k, v in properties.items()}
                listed = schema.get("required")
                required = (
                    [r for r in listed if isinstance(r, str) and r in properties]
                    if isinstance(listed, list)
                    else []
                )
                if required:
                    out["required"] = required
        elif kind == "array":
            items = schema.get("items")
            out["items"] = self.convert(items if items is not None else {}, depth)

    def _resolved(self, schema: Mapping[str, Any], depth: int) -> tuple[Mapping[str, Any], int] | None:
        """`schema` with its local `$ref` followed (siblings kept) and the depth of references
        followed to reach it; None when too deep (a recursive schema)."""
        while isinstance(ref := schema.get("$ref"), str):
            if depth >= MAX_REF_DEPTH:
                return None
            schema = {**self._lookup(ref), **_without(schema, "$ref")}
            depth += 1
        return schema, depth

    def _merged_all_of(self, schema: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
        """`allOf` folded into one schema (properties and required joined, first type wins)."""
        parts = schema.get("allOf")
        if not isinstance(parts, list):
            return schema
        merged: dict[str, Any] = dict(_without(schema, "allOf"))
        for part in parts:
            found = self._resolved(part, depth) if isinstance(part, Mapping) else None
            if found is None:
                continue
            for key, value in self._merged_all_of(*found).items():
                mine = merged.get(key)
                if key == "properties" and isinstance(value, Mapping) and isinstance(mine, Mapping | None):
                    merged["properties"] = {**(mine or {}), **value}
                elif key == "required" and isinstance(value, list) and isinstance(mine, list | None):
                    merged["required"] = [*(mine or []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def _lookup(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            return {}  # a remote reference cannot be inlined: any value
        node: Any = self.root
        for escaped in ref[1:].split("/")[1:]:
            key = escaped.replace("~1", "/").replace("~0", "~")
            node = node.get(key) if isinstance(node, Mapping) else None
        return node if isinstance(node, Mapping) else {}


def _types_of(schema: Mapping[str, Any]) -> list[str]:
    """The JSON types a schema names (unknown names ignored), in order, once each."""
    kind = schema.get("type")
    named = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
    return list(dict.fromkeys(k for k in named if isinstance(k, str) and k in _JSON_TYPES))


def _inferred(schema: Mapping[str, Any]) -> str | None:
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return _kind_of(next((v for v in enum if v is not None), ""))
    if "const" in schema:
        return _kind_of(schema["const"])
    return None


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _fits(key: str, value: Any, kind: str) -> bool:
    """Keep a bound only on the type it belongs to, and only with a value of the right kind."""
    if key == "title":
        return isinstance(value, str)
    if key == "pattern":
        return kind == "string" and isinstance(value, str)
    if key in ("minLength", "maxLength"):
        return kind == "string" and isinstance(value, int)
    if key in ("minItems", "maxItems"):
        return kind == "array" and isinstance(value, int)
    if key in ("minProperties", "maxProperties"):
        return kind == "object" and isinstance(value, int)
    return kind in ("number", "integer") and isinstance(value, int | float) and not isinstance(value, bool)


def _plain(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _without(schema: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in keys}
