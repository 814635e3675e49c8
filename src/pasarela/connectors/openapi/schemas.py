"""OpenAPI schema objects (Swagger 2.0, OpenAPI 3.0, 3.1) → JSON Schema 2020-12.

Local `$ref`s become `#/$defs/<name>` and each tool carries only the definitions it reaches,
so recursive schemas stay finite. Every component is converted once per document, however
many operations use it (importing large descriptions stays fast).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

_DEF_NAME_INVALID = re.compile(r"[^A-Za-z0-9_.-]+")
# Keywords whose value is a schema, a list of schemas, or a map of name → schema.
_SCHEMA_KEYS = (
    "items",
    "not",
    "additionalProperties",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
)
_SCHEMA_LIST_KEYS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAP_KEYS = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")
# OpenAPI-only keywords with no JSON Schema meaning.
_DROPPED = frozenset({"discriminator", "xml", "externalDocs", "nullable", "example", "x-nullable"})


# Real schemas nest a few levels; beyond this a description is refused (the tools' schemas
# would pass JSON encoders' and validators' own limits, or Python's recursion limit).
MAX_DEPTH = 100


class UnresolvableReference(LookupError):
    pass


class SchemaTooDeep(ValueError):
    pass


def resolve_pointer(document: Any, ref: str) -> Any:
    """The node a local reference (`#/a/b`) points to."""
    if not ref.startswith("#"):
        raise UnresolvableReference(f"only local references are supported, got {ref!r}")
    node = document
    for raw in unquote(ref[1:]).split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise UnresolvableReference(f"reference {ref!r} points to nothing")
    return node


def deref(document: Any, node: Any, *, limit: int = 32) -> Any:
    """Follow `$ref`s until a non-reference node (parameters, request bodies, responses)."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        node = resolve_pointer(document, node["$ref"])
        seen += 1
        if seen > limit:
            raise UnresolvableReference("reference chain too long (a cycle of $refs?)")
    return node


class SchemaConverter:
    """Converts the schemas of one document; shares converted components between tools."""

    def __init__(self, document: dict[str, Any], *, openapi_31: bool) -> None:
        self.document = document
        self.openapi_31 = openapi_31
        self.defs: dict[str, Any] = {}
        self._name_by_ref: dict[str, str] = {}
        self._deps: dict[str, set[str]] = {}
        self._depth = 0

    def convert(self, schema: Any, used: set[str]) -> Any:
        """Convert `schema`; add the names of the definitions it references directly to `used`."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise SchemaTooDeep(f"a schema nests deeper than {MAX_DEPTH} levels")
            return self._convert(schema, used)
        finally:
            self._depth -= 1

    def _convert(self, schema: Any, used: set[str]) -> Any:
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict):
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = self._definition(ref)
            if name is None:
                return {"description": f"(unresolved reference {ref})"}
            used.add(name)
            target = {"$ref": f"#/$defs/{name}"}
            if self.openapi_31:  # 3.1 allows keywords beside $ref; 3.0 ignores them
                siblings = {k: v for k, v in schema.items() if k != "$ref"}
                if siblings:
                    target.update(self._convert_object(siblings, used))
            return target
        return self._convert_object(schema, used)

    def _convert_object(self, schema: dict[str, Any], used: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _DROPPED or key.startswith("x-"):
                continue
            if key in _SCHEMA_MAP_KEYS and isinstance(value, dict):
                out[key] = {name: self.convert(sub, used) for name, sub in value.items()}
            elif key in _SCHEMA_LIST_KEYS and isinstance(value, list):
                out[key] = [self.convert(sub, used) for sub in value]
            elif key in _SCHEMA_KEYS and isinstance(value, dict | bool):
                out[key] = self.convert(value, used)
            elif key == "items" and isinstance(value, list):  # draft-4 tuple form
                out["prefixItems"] = [self.convert(sub, used) for sub in value]
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                if value and bound in schema:
                    out[key] = schema[bound]
            elif key in ("minimum", "maximum") and schema.get(f"exclusive{key.title()}") is True:
                continue
            elif key == "type" and value == "file":  # Swagger 2.0
                out["type"] = "string"
                out.setdefault("format", "binary")
            else:
                out[key] = value
        if "example" in schema and "examples" not in schema:
            out["examples"] = [schema["example"]]
        if schema.get("nullable") is True or schema.get("x-nullable") is True:
            out = _nullable(out)
        return out

    def _definition(self, ref: str) -> str | None:
        """The $defs name for `ref`, converting the target once."""
        name = self._name_by_ref.get(ref)
        if name is not None:
            return name
        try:
            target = resolve_pointer(self.document, ref)
        except UnresolvableReference:
            return None
        name = self._unique_name(ref)
        self._name_by_ref[ref] = name
        self.defs[name] = {}  # placeholder: a recursive reference finds the name and stops here
        deps: set[str] = set()
        self.defs[name] = self.convert(target, deps)
        self._deps[name] = deps
        return name

    def _unique_name(self, ref: str) -> str:
        tail = unquote(ref).rsplit("/", 1)[-1]
        base = _DEF_NAME_INVALID.sub("_", tail) or "schema"
        name, counter = base, 2
        taken = set(self._name_by_ref.values())
        while name in taken:
            name = f"{base}_{counter}"
            counter += 1
        return name

    def closure(self, used: set[str]) -> dict[str, Any]:
        """Every definition reachable from `used`, for one tool's `$defs`."""
        found: dict[str, Any] = {}
        stack = list(used)
        while stack:
            name = stack.pop()
            if name in found:
                continue
            found[name] = self.defs[name]
            stack.extend(self._deps.get(name, ()))
        return dict(sorted(found.items()))


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema = {**schema, "type": [kind, "null"]}
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if isinstance(kind, list):
        return schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}
