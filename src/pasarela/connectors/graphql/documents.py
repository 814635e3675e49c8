"""Tools from a GraphQL schema: one per root field, or one per declared operation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
    parse,
    type_from_ast,
    validate,
)
from graphql.error import GraphQLSyntaxError
from graphql.pyutils import Undefined
from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.connectors.graphql.types import input_schema, selection


@dataclass(frozen=True, slots=True)
class Operation:
    document: str
    root_field: str | None  # generated tools answer with this field of `data`


def _annotations(mutation: bool) -> ToolAnnotations:
    return ToolAnnotations(
        read_only=not mutation, destructive=mutation, idempotent=not mutation, open_world=True
    )


def _arguments_schema(arguments: dict[str, tuple[Any, bool, str | None]]) -> dict[str, Any]:
    """(GraphQL type, required, description) per argument → the tool's input schema."""
    properties: dict[str, Any] = {}
    for name, (kind, _, description) in arguments.items():
        properties[name] = input_schema(kind)
        if description:
            properties[name]["description"] = description
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [name for name, (_, needed, _) in arguments.items() if needed]
    if required:
        schema["required"] = required
    return schema


def _required(argument: GraphQLArgument) -> bool:
    return isinstance(argument.type, GraphQLNonNull) and argument.default_value is Undefined


def root_field_tool(
    backend: str, name: str, field: GraphQLField, *, mutation: bool, depth: int
) -> tuple[ToolSpec, Operation] | None:
    """The tool for one Query or Mutation field, or None if no default selection exists."""
    leaf = isinstance(get_named_type(field.type), GraphQLScalarType | GraphQLEnumType)
    picked = "" if leaf else selection(field.type, depth)
    if not leaf and not picked:
        return None
    keyword = "mutation" if mutation else "query"
    variables = ", ".join(f"${arg}: {argument.type}" for arg, argument in field.args.items())
    call = f"{name}({', '.join(f'{arg}: ${arg}' for arg in field.args)})" if field.args else name
    head = f"{keyword} Pasarela_{name}" + (f"({variables})" if variables else "")
    tool = ToolSpec(
        name=name,
        description=field.description or f"GraphQL {keyword} {name}",
        input_schema=_arguments_schema(
            {arg: (a.type, _required(a), a.description) for arg, a in field.args.items()}
        ),
        backend=backend,
        origin=f"{keyword}:{name}",
        annotations=_annotations(mutation),
        tags=("graphql", keyword),
    )
    return tool, Operation(f"{head} {{ {call} {picked} }}", name)


def operation_tool(
    schema: GraphQLSchema, backend: str, name: str, document: str, description: str
) -> tuple[ToolSpec, Operation]:
    """The tool for a declared operation; raises ValueError saying what is wrong with it."""
    try:
        ast = parse(document)
    except GraphQLSyntaxError as exc:
        raise ValueError(f"document: {exc.message}") from None
    errors = validate(schema, ast)
    if errors:
        raise ValueError(f"document: {errors[0].message}")
    operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        raise ValueError(f"document: expected exactly one operation, found {len(operations)}")
    operation = operations[0]
    if operation.operation == OperationType.SUBSCRIPTION:
        raise ValueError("document: subscriptions cannot be tools")
    arguments: dict[str, tuple[Any, bool, str | None]] = {}
    for definition in operation.variable_definitions or ():
        kind = type_from_ast(schema, definition.type)
        needed = isinstance(kind, GraphQLNonNull) and definition.default_value is None
        arguments[definition.variable.name.value] = (kind, needed, None)
    mutation = operation.operation == OperationType.MUTATION
    tool = ToolSpec(
        name=name,
        description=description or f"GraphQL operation {name}",
        input_schema=_arguments_schema(arguments),
        backend=backend,
        origin=f"operation:{name}",
        annotations=_annotations(mutation),
        tags=("graphql", "operation"),
    )
    return tool, Operation(document, None)
