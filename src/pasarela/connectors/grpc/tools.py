"""Each unary or server-streaming method of a service → a tool and how to call it.

Client-streaming and bidirectional methods are left out (an agent's one call carries one set of
arguments); the services gRPC itself serves (reflection, health, channelz) are never tools.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.descriptor_pool import DescriptorPool

from pasarela.catalog.naming import make_unique, sanitize_tool_name
from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.connectors.grpc.descriptors import infrastructure
from pasarela.connectors.grpc.schemas import NOT_OBJECTS, SchemaBuilder

log = structlog.get_logger("pasarela.grpc")

WRAPPED_ARGUMENT = "value"
_LEVELS = descriptor_pb2.MethodOptions.IdempotencyLevel


@dataclass(frozen=True, slots=True)
class Method:
    """What calling one tool takes: the method's path and message types."""

    path: str  # /package.Service/Method
    input_type: str
    output_type: str
    server_streaming: bool
    # The request's JSON form is not an object (a wrapper, a Timestamp …): it is the `value` argument.
    wrapped_input: bool = False


def method_tools(
    pool: DescriptorPool, services: Iterable[str], comments: Mapping[str, str], backend: str
) -> list[tuple[ToolSpec, Method]]:
    builder = SchemaBuilder(comments)
    methods = [
        method
        for service in dict.fromkeys(services)
        if not infrastructure(service)
        for method in pool.FindServiceByName(service).methods
    ]
    clashing = _clashing(m.name for m in methods)
    taken: set[str] = set()
    tools: list[tuple[ToolSpec, Method]] = []
    for method in methods:
        if method.client_streaming:
            log.warning(
                "grpc_method_skipped",
                backend=backend,
                method=method.full_name,
                reason="client-streaming and bidirectional methods are not tools",
            )
            continue
        raw = (
            method.name if method.name not in clashing else f"{method.containing_service.name}_{method.name}"
        )
        name = make_unique(sanitize_tool_name(raw), taken)
        tools.append(_tool(builder, method, name, comments, backend))
    return tools


def _clashing(names: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    twice: set[str] = set()
    for name in names:
        (twice if name in seen else seen).add(name)
    return twice


def _tool(
    builder: SchemaBuilder, method: MethodDescriptor, name: str, comments: Mapping[str, str], backend: str
) -> tuple[ToolSpec, Method]:
    service = method.containing_service
    wrapped = method.input_type.full_name in NOT_OBJECTS
    input_schema = builder.schema(method.input_type, output=False)
    if wrapped:
        input_schema = {
            "type": "object",
            "properties": {WRAPPED_ARGUMENT: input_schema},
            "required": [WRAPPED_ARGUMENT],
            "additionalProperties": False,
        }
    output_schema = builder.schema(method.output_type, output=True)
    description = comments.get(method.full_name) or f"{method.name} of {service.full_name} (gRPC)"
    if method.server_streaming:
        output_schema = _collected(output_schema)
        description += (
            "\n\nThe server streams its answer: the messages are collected (up to the backend's "
            "max_messages; `truncated` says whether more were left)."
        )
    level = method.GetOptions().idempotency_level
    read_only = level == _LEVELS.NO_SIDE_EFFECTS
    spec = ToolSpec(
        name=name,
        description=description,
        input_schema=input_schema,
        backend=backend,
        origin=method.full_name,
        output_schema=output_schema,
        # Only the method's declared idempotency_level says anything about its effects.
        annotations=ToolAnnotations(
            read_only=read_only,
            destructive=False,
            idempotent=read_only or level == _LEVELS.IDEMPOTENT,
            open_world=True,
        ),
        tags=("grpc", service.full_name, service.name),
    )
    binding = Method(
        path=f"/{service.full_name}/{method.name}",
        input_type=method.input_type.full_name,
        output_type=method.output_type.full_name,
        server_streaming=method.server_streaming,
        wrapped_input=wrapped,
    )
    return spec, binding


def _collected(message: dict[str, Any]) -> dict[str, Any]:
    """The answer of a server-streaming tool: the messages (their `$defs` hoisted to the top)."""
    defs = message.pop("$defs", None)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "messages": {"type": "array", "items": message},
            "count": {"type": "integer", "minimum": 0},
            "truncated": {"type": "boolean", "description": "More messages were streamed than were kept"},
        },
        "required": ["messages", "count", "truncated"],
    }
    return {**schema, "$defs": defs} if defs else schema
