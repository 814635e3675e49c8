"""GraphQL input types as JSON Schema, and default selection sets for output types."""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
)
from graphql.pyutils import Undefined

SCALARS: dict[str, dict[str, Any]] = {
    "String": {"type": "string"},
    "ID": {"type": "string"},
    "Int": {"type": "integer"},
    "Float": {"type": "number"},
    "Boolean": {"type": "boolean"},
}


def input_schema(kind: GraphQLInputType, seen: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON Schema of a GraphQL input type (nullability is the caller's `required`)."""
    if isinstance(kind, GraphQLNonNull):
        return input_schema(kind.of_type, seen)
    if isinstance(kind, GraphQLList):
        return {"type": "array", "items": input_schema(kind.of_type, seen)}
    if isinstance(kind, GraphQLEnumType):
        return {"type": "string", "enum": list(kind.values)}
    if isinstance(kind, GraphQLScalarType):
        return dict(SCALARS.get(kind.name, {}))  # a custom scalar: any JSON value
    if isinstance(kind, GraphQLInputObjectType):
        if kind.name in seen:
            return {"type": "object"}  # recursive input: stop describing, still an object
        properties = {
            name: input_schema(field.type, seen | {kind.name}) for name, field in kind.fields.items()
        }
        for name, field in kind.fields.items():
            if field.description:
                properties[name]["description"] = field.description
        required = [
            name
            for name, field in kind.fields.items()
            if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        ]
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema
    return {}


def selection(kind: GraphQLOutputType, depth: int) -> str:
    """A selection set: every scalar and enum field, and objects down to `depth` levels."""
    named = get_named_type(kind)
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        parts = []
        for name, field in named.fields.items():
            if any(
                isinstance(get_named_type(a.type), GraphQLInputObjectType)
                or isinstance(a.type, GraphQLNonNull)
                for a in field.args.values()
            ):
                continue  # needs arguments of its own: not part of a default selection
            inner = get_named_type(field.type)
            if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
                parts.append(name)
            elif depth > 1 and (sub := selection(field.type, depth - 1)):
                parts.append(f"{name} {sub}")
        return "{ " + " ".join(parts) + " }" if parts else ""
    if isinstance(named, GraphQLUnionType):
        return "{ __typename }"
    return ""
