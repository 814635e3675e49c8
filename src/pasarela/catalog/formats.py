"""The catalog as each audience wants it: native (MCP-shaped JSON), OpenAI, Anthropic, Gemini."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pasarela.catalog.gemini import gemini_declaration
from pasarela.catalog.spec import ToolSpec

Format = Literal["native", "json", "openai", "anthropic", "gemini", "mcp"]
FORMATS: tuple[str, ...] = ("native", "json", "openai", "anthropic", "gemini", "mcp")


def annotations_of(tool: ToolSpec) -> dict[str, bool]:
    a = tool.annotations
    return {
        "readOnlyHint": a.read_only,
        "destructiveHint": a.destructive,
        "idempotentHint": a.idempotent,
        "openWorldHint": a.open_world,
    }


def native(tool: ToolSpec) -> dict[str, Any]:
    """`{name, description, inputSchema, outputSchema?, annotations}` (MCP's field names)."""
    out: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "inputSchema": dict(tool.input_schema),
    }
    if tool.output_schema is not None:
        out["outputSchema"] = dict(tool.output_schema)
    out["annotations"] = annotations_of(tool)
    return out


def openai(tool: ToolSpec) -> dict[str, Any]:
    """OpenAI function calling (Chat Completions `tools` entries)."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.input_schema),
        },
    }


def anthropic(tool: ToolSpec) -> dict[str, Any]:
    """Anthropic Messages API `tools` entries."""
    return {"name": tool.name, "description": tool.description, "input_schema": dict(tool.input_schema)}


def gemini(tool: ToolSpec) -> dict[str, Any]:
    """Gemini `functionDeclarations` entries, in its schema dialect (catalog/gemini.py); the
    output only where a registry contract verifies it, as over MCP (docs/decisions.md #6)."""
    output = tool.output_schema if tool.output_contract is not None else None
    return gemini_declaration(tool.name, tool.description, tool.input_schema, output)


def mcp(tool: ToolSpec) -> dict[str, Any]:
    """Exactly what `tools/list` returns over MCP for this tool."""
    out = native(tool)
    if tool.output_contract is None:
        # A backend's own output schema is unverified (docs/decisions.md #6): only a registry
        # schema that every result is validated against is promised to MCP clients.
        out.pop("outputSchema", None)
    return out


_RENDERERS = {
    "native": native,
    "json": native,
    "openai": openai,
    "anthropic": anthropic,
    "gemini": gemini,
    "mcp": mcp,
}


def render(tools: Iterable[ToolSpec], fmt: str) -> list[dict[str, Any]]:
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    renderer = _RENDERERS[fmt]
    return [renderer(t) for t in tools]
