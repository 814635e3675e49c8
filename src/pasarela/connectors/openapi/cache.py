"""An OpenAPI description's tools and wire bindings as a cache entry, and back.

The entry holds what the description alone decides: each tool, its operation's bindings,
and the few top-level keys the base URL is chosen from. Nothing from the configuration is
in it (`base_url:`, the description's location, headers, credentials are applied afresh on
every load), so an entry never holds a resolved secret from the configuration.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from pasarela.catalog import naming, spec
from pasarela.catalog.description_cache import code_fingerprint, stored_mapping, stored_text
from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.config import yaml_source
from pasarela.connectors.openapi import document, operations, schemas, yaml_fast
from pasarela.connectors.openapi.document import Document
from pasarela.connectors.openapi.operations import Binding, Operation

KIND = "openapi"
# The top-level keys `_resolve_base_url` reads.
SERVER_KEYS = ("host", "schemes", "basePath", "servers")


@functools.cache
def fingerprint() -> str:
    this = sys.modules[__name__]
    return code_fingerprint((this, document, yaml_fast, yaml_source, operations, schemas, naming, spec))


def encode(doc: Document, pairs: list[tuple[ToolSpec, Operation]]) -> dict[str, Any]:
    return {
        "swagger2": doc.swagger2,
        "openapi_31": doc.openapi_31,
        "servers": {key: doc.data[key] for key in SERVER_KEYS if key in doc.data},
        "tools": [_tool(tool, operation) for tool, operation in pairs],
    }


def _tool(tool: ToolSpec, operation: Operation) -> dict[str, Any]:
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
        "method": operation.method,
        "path": operation.path,
        "bindings": [[b.argument, b.location, b.wire_name] for b in operation.bindings],
        "body_kind": operation.body_kind,
        "media_type": operation.media_type,
        "server_url": operation.server_url,
    }


def decode(entry: Any, location: str) -> tuple[Document, list[tuple[ToolSpec, Operation]]]:
    """The document summary and tools in `entry`. Raises ValueError, KeyError or TypeError if
    it is not an entry this code wrote (the caller then parses the description)."""
    if not isinstance(entry, dict) or not isinstance(entry["servers"], dict):
        raise TypeError("not a cache entry")
    summary = Document(
        entry["servers"], location, swagger2=bool(entry["swagger2"]), openapi_31=bool(entry["openapi_31"])
    )
    return summary, [_decode_tool(raw) for raw in entry["tools"]]


def _decode_tool(raw: dict[str, Any]) -> tuple[ToolSpec, Operation]:
    read_only, destructive, idempotent, open_world = (bool(flag) for flag in raw["annotations"])
    tool = ToolSpec(
        name=stored_text(raw["name"]),
        description=stored_text(raw["description"]),
        input_schema=stored_mapping(raw["input_schema"]),
        backend=stored_text(raw["backend"]),
        origin=stored_text(raw["origin"]),
        output_schema=None if raw["output_schema"] is None else stored_mapping(raw["output_schema"]),
        annotations=ToolAnnotations(read_only, destructive, idempotent, open_world),
        tags=tuple(stored_text(tag) for tag in raw["tags"]),
    )
    operation = Operation(
        method=stored_text(raw["method"]),
        path=stored_text(raw["path"]),
        bindings=tuple(Binding(stored_text(a), where, stored_text(w)) for a, where, w in raw["bindings"]),
        body_kind=raw["body_kind"],
        media_type=raw["media_type"],
        server_url=raw["server_url"],
    )
    return tool, operation
