"""What a tool is, independent of the system behind it or the door in front of it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Valid for MCP tool names and for OpenAI/Anthropic function names.
TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class ToolAnnotations:
    """Hints about a tool's behaviour (MCP tool annotations)."""

    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = True


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool as agents see it, plus where it comes from.

    `origin` is the connector's own key for the operation (an operationId, a function name),
    so renaming a tool never changes how the connector finds it.
    """

    name: str
    description: str
    input_schema: Mapping[str, Any]
    backend: str
    origin: str
    output_schema: Mapping[str, Any] | None = None
    annotations: ToolAnnotations = field(default_factory=ToolAnnotations)
    tags: tuple[str, ...] = ()
    # The registry schema (e.g. customer@2) results are validated against; only then is
    # `output_schema` a promise worth advertising over MCP.
    output_contract: str | None = None
    # What else the backend said about the tool that an operator must review when it changes,
    # though agents never see it (an A2A agent's URL and security schemes): pinned, not served.
    provenance: Mapping[str, Any] | None = None
