"""A gRPC backend's tools as a description cache entry, and back.

The key is the descriptors themselves (serialized deterministically) and the services served,
so an entry is used only for the very same descriptions, whether they came from files, protoc
or reflection. The entry holds each tool and the method it calls; the descriptor pool is
still built from the descriptors on every load (messages need it), which is the cheap part.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import google.protobuf
import structlog

from pasarela.catalog import naming, spec
from pasarela.catalog.description_cache import DescriptionCache, code_fingerprint, stored_mapping, stored_text
from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.connectors.grpc import descriptors, schemas, tools
from pasarela.connectors.grpc.tools import Method

log = structlog.get_logger("pasarela.description_cache")

KIND = "grpc"


@functools.cache
def fingerprint() -> str:
    this = sys.modules[__name__]
    return code_fingerprint((this, descriptors, schemas, tools, naming, spec, google.protobuf))


def encode(pairs: list[tuple[ToolSpec, Method]]) -> dict[str, Any]:
    return {"tools": [_tool(tool, method) for tool, method in pairs]}


def _tool(tool: ToolSpec, method: Method) -> dict[str, Any]:
    a = tool.annotations
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": tool.input_schema,
        "output_schema": tool.output_schema,
        "backend": tool.backend,
        "origin": tool.origin,
        "annotations": [a.read_only, a.destructive, a.idempotent, a.open_world],
        "tags": list(tool.tags),
        "method": [
            method.path,
            method.input_type,
            method.output_type,
            method.server_streaming,
            method.wrapped_input,
        ],
    }


def read(cache: DescriptionCache, backend: str, key: str) -> list[tuple[ToolSpec, Method]] | None:
    """The tools stored under `key`, or None (missing, stale, or not an entry this code wrote)."""
    entry = cache.get(KIND, backend, key)
    if entry is None:
        return None
    try:
        return [_decode(raw) for raw in entry["tools"]]
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("description_cache_corrupt", backend=backend, error=str(exc)[:200])
        return None


def _decode(raw: dict[str, Any]) -> tuple[ToolSpec, Method]:
    read_only, destructive, idempotent, open_world = (bool(flag) for flag in raw["annotations"])
    path, input_type, output_type, streaming, wrapped = raw["method"]
    tool = ToolSpec(
        name=stored_text(raw["name"]),
        description=stored_text(raw["description"]),
        input_schema=stored_mapping(raw["input_schema"]),
        backend=stored_text(raw["backend"]),
        origin=stored_text(raw["origin"]),
        output_schema=stored_mapping(raw["output_schema"]),
        annotations=ToolAnnotations(read_only, destructive, idempotent, open_world),
        tags=tuple(stored_text(tag) for tag in raw["tags"]),
    )
    method = Method(
        stored_text(path), stored_text(input_type), stored_text(output_type), bool(streaming), bool(wrapped)
    )
    return tool, method
