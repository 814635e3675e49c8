"""Protobuf messages → JSON Schema 2020-12, following the proto3 JSON mapping.

Field names are the .proto names (what `preserving_proto_field_name=True` reads and writes);
64-bit integers are strings (numbers are accepted too, within range); bytes are base64; enums
are their value names; well-known types take their JSON forms (Timestamp an RFC 3339 string,
Duration `1.5s`, wrappers their bare value or null, Struct an object, Value any JSON …). Every
message other than the top one is a `$defs` entry named after its full name, so recursive
messages stay finite. Input schemas are as tight as the wire allows (ranges, patterns, enum
names, at most one member of a oneof), so the gateway's validation answers 422 before the
server is asked; output schemas describe what the server's answer turns into.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

INT32 = (-(2**31), 2**31 - 1)
UINT32 = (0, 2**32 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT64 = (0, 2**64 - 1)
FLOAT_MAX = 3.4028234663852886e38
RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
DURATION = r"^-?[0-9]+(\.[0-9]{1,9})?s$"
BASE64 = r"^[A-Za-z0-9+/_-]*={0,2}$"  # standard or URL-safe, padded or not, as the mapping accepts
NON_FINITE = ("NaN", "Infinity", "-Infinity")

T = FieldDescriptor
_SIGNED_32 = {T.TYPE_INT32, T.TYPE_SINT32, T.TYPE_SFIXED32}
_UNSIGNED_32 = {T.TYPE_UINT32, T.TYPE_FIXED32}
_SIGNED_64 = {T.TYPE_INT64, T.TYPE_SINT64, T.TYPE_SFIXED64}
_UNSIGNED_64 = {T.TYPE_UINT64, T.TYPE_FIXED64}

_WRAPPED = {
    "google.protobuf.DoubleValue": T.TYPE_DOUBLE,
    "google.protobuf.FloatValue": T.TYPE_FLOAT,
    "google.protobuf.Int64Value": T.TYPE_INT64,
    "google.protobuf.UInt64Value": T.TYPE_UINT64,
    "google.protobuf.Int32Value": T.TYPE_INT32,
    "google.protobuf.UInt32Value": T.TYPE_UINT32,
    "google.protobuf.BoolValue": T.TYPE_BOOL,
    "google.protobuf.StringValue": T.TYPE_STRING,
    "google.protobuf.BytesValue": T.TYPE_BYTES,
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "pattern": RFC3339,
        "description": "An RFC 3339 date and time, e.g. 2026-01-31T09:30:00Z",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": DURATION,
        "description": "A duration in seconds with an s suffix, e.g. 1.5s",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Field paths in lowerCamelCase, separated by commas, e.g. displayName,address.city",
    },
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {"description": "Any JSON value"},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object", "properties": {}, "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "required": ["@type"],
        "properties": {"@type": {"type": "string", "description": "type.googleapis.com/<full message name>"}},
    },
}
# Well-known messages whose JSON form is not an object: as a request, they travel under `value`.
NOT_OBJECTS = frozenset(
    {*_WRAPPED, "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
    | {"google.protobuf.Value", "google.protobuf.ListValue"}
)


def _integer(low: int, high: int, *, as_string: bool, output: bool) -> dict[str, Any]:
    if not as_string:
        return {"type": "integer", "minimum": low, "maximum": high}
    pattern = "^-?[0-9]+$" if low < 0 else "^[0-9]+$"
    if output:
        return {"type": "string", "pattern": pattern}
    # A string (the mapping's form) or a number; either way within range.
    return {
        "type": ["string", "integer"],
        "pattern": pattern,
        "maxLength": 20,
        "minimum": low,
        "maximum": high,
    }


def scalar_schema(kind: int, *, output: bool) -> dict[str, Any]:
    if kind in _SIGNED_32:
        return _integer(*INT32, as_string=False, output=output)
    if kind in _UNSIGNED_32:
        return _integer(*UINT32, as_string=False, output=output)
    if kind in _SIGNED_64:
        return _integer(*INT64, as_string=True, output=output)
    if kind in _UNSIGNED_64:
        return _integer(*UINT64, as_string=True, output=output)
    if kind in (T.TYPE_DOUBLE, T.TYPE_FLOAT):
        if output:  # non-finite values come back as these strings
            return {"anyOf": [{"type": "number"}, {"enum": list(NON_FINITE)}]}
        return (
            {"type": "number", "minimum": -FLOAT_MAX, "maximum": FLOAT_MAX}
            if kind == T.TYPE_FLOAT
            else {"type": "number"}
        )
    if kind == T.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == T.TYPE_BYTES:
        schema: dict[str, Any] = {"type": "string", "contentEncoding": "base64"}
        return schema if output else {**schema, "pattern": BASE64}
    return {"type": "string"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:
        return {"anyOf": [*schema["anyOf"], {"type": "null"}]}
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*kinds, "null"]}


class SchemaBuilder:
    """Schemas for the messages of one descriptor pool; each message is converted once."""

    def __init__(self, comments: Mapping[str, str]) -> None:
        self.comments = comments
        # (full name, output) → (its schema, the messages it refers to)
        self._bodies: dict[tuple[str, bool], tuple[dict[str, Any], frozenset[str]]] = {}
        self._messages: dict[str, Descriptor] = {}

    def schema(self, message: Descriptor, *, output: bool) -> dict[str, Any]:
        """The whole schema of `message` as a tool's input or output (with the `$defs` it needs)."""
        known = _WELL_KNOWN.get(message.full_name) or self._wrapper(message, output=output)
        if known is not None:
            return dict(known)
        body, refs = self._body(message, output)
        defs: dict[str, Any] = {}
        pending = list(refs)
        while pending:
            name = pending.pop()
            if name in defs:
                continue
            defs[name], more = self._body(self._messages[name], output)
            pending.extend(more - defs.keys())
        return {**body, "$defs": dict(sorted(defs.items()))} if defs else dict(body)

    def _wrapper(self, message: Descriptor, *, output: bool) -> dict[str, Any] | None:
        kind = _WRAPPED.get(message.full_name)
        return None if kind is None else _nullable(scalar_schema(kind, output=output))

    def _body(self, message: Descriptor, output: bool) -> tuple[dict[str, Any], frozenset[str]]:
        key = (message.full_name, output)
        if key not in self._bodies:
            self._bodies[key] = self._convert(message, output)
        return self._bodies[key]

    def _convert(self, message: Descriptor, output: bool) -> tuple[dict[str, Any], frozenset[str]]:
        refs: set[str] = set()
        groups = _oneofs(message)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in message.fields:
            prop = self._field(field, output, refs)
            notes = [self.comments.get(f"{message.full_name}.{field.name}", "")]
            for group in groups:
                if field.name in group[1:]:
                    others = ", ".join(m for m in group[1:] if m != field.name)
                    notes.append(f"(one of `{group[0]}`: not together with {others})")
            if note := " ".join(n for n in notes if n):
                prop = {**prop, "description": note}
            properties[field.name] = prop
            if field.is_required:
                required.append(field.name)
        schema: dict[str, Any] = {"type": "object"}
        if described := self.comments.get(message.full_name):
            schema["description"] = described
        schema["properties"] = properties
        if required:
            schema["required"] = required
        if not output:
            schema["additionalProperties"] = False
            # No two members of a oneof at once.
            exclusive = [
                {"anyOf": [{"required": [a, b]} for i, a in enumerate(g[1:]) for b in g[i + 2 :]]}
                for g in groups
            ]
            if len(exclusive) == 1:
                schema["not"] = exclusive[0]
            elif exclusive:
                schema["allOf"] = [{"not": rule} for rule in exclusive]
        return schema, frozenset(refs)

    def _field(self, field: FieldDescriptor, output: bool, refs: set[str]) -> dict[str, Any]:
        entry = field.message_type
        if field.is_repeated and entry is not None and entry.GetOptions().map_entry:
            key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
            schema: dict[str, Any] = {
                "type": "object",
                "additionalProperties": self._single(value, output, refs),
            }
            if (names := _map_keys(key.type)) is not None:
                schema["propertyNames"] = names
            return schema
        single = self._single(field, output, refs)
        return {"type": "array", "items": single} if field.is_repeated else single

    def _single(self, field: FieldDescriptor, output: bool, refs: set[str]) -> dict[str, Any]:
        if field.type == T.TYPE_ENUM and field.enum_type is not None:
            return self._enum(field.enum_type)
        message = field.message_type
        if field.type in (T.TYPE_MESSAGE, T.TYPE_GROUP) and message is not None:
            known = _WELL_KNOWN.get(message.full_name) or self._wrapper(message, output=output)
            if known is not None:
                return dict(known)
            self._messages[message.full_name] = message
            refs.add(message.full_name)
            return {"$ref": f"#/$defs/{message.full_name}"}
        return scalar_schema(field.type, output=output)

    def _enum(self, enum: EnumDescriptor) -> dict[str, Any]:
        if enum.full_name == "google.protobuf.NullValue":
            return {"type": "null"}
        schema: dict[str, Any] = {"type": "string", "enum": [value.name for value in enum.values]}
        notes = [
            f"{value.name}: {note}"
            for value in enum.values
            if (note := self.comments.get(f"{enum.full_name}.{value.name}"))
        ]
        described = [self.comments.get(enum.full_name, ""), *notes]
        if any(described):
            schema["description"] = "\n".join(line for line in described if line)
        return schema


def _map_keys(kind: int) -> dict[str, Any] | None:
    if kind == T.TYPE_BOOL:
        return {"enum": ["true", "false"]}
    if kind in _SIGNED_32 | _SIGNED_64:
        return {"pattern": "^-?[0-9]+$"}
    if kind in _UNSIGNED_32 | _UNSIGNED_64:
        return {"pattern": "^[0-9]+$"}
    return None


def _oneofs(message: Descriptor) -> list[tuple[str, ...]]:
    """Each real oneof (not a proto3 `optional`) with two members or more: its name, then theirs."""
    if not message.oneofs:
        return []
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    synthetic = {field.oneof_index for field in proto.field if field.proto3_optional}
    return [
        (oneof.name, *(field.name for field in oneof.fields))
        for index, oneof in enumerate(message.oneofs)
        if index not in synthetic and len(oneof.fields) > 1
    ]
