"""Discovery mode (`tool_search:`): an agent with a large catalog is shown two tools instead of
hundreds — `search_tools(query, limit)`, answering with the best-matching tools it may call and
their schemas, and `call_tool(name, arguments)` — plus the tools listed as always visible.

Doors ask `Discovery` what to list and how to answer the two; `call_tool` is unwrapped at the
door into an ordinary call of the named tool, so it goes through the whole pipeline (policy,
validation, limits, audit) as that tool. Searching only ranks the tools the caller may see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pasarela.catalog.catalog import Catalog
from pasarela.catalog.formats import mcp as mcp_form
from pasarela.catalog.search import MAX_QUERY_CHARS, ToolIndex
from pasarela.catalog.spec import TOOL_NAME_PATTERN, ToolAnnotations, ToolSpec
from pasarela.config.tool_search import ToolSearchSettings
from pasarela.errors import ArgumentProblem, ConfigProblem, InvalidArguments
from pasarela.identity.principal import Principal

SEARCH_TOOLS = "search_tools"
CALL_TOOL = "call_tool"
META_TOOLS = (SEARCH_TOOLS, CALL_TOOL)
BACKEND = "pasarela"  # the meta-tools' backend: the gateway itself


class Discovery:
    """Who is in discovery mode, what they are shown, and the two meta-tools' answers."""

    def __init__(self, settings: ToolSearchSettings, catalog: Catalog) -> None:
        self.settings = settings
        self._roles = frozenset(settings.roles)
        self._principals = frozenset(settings.principals)
        self._always = frozenset(settings.always_visible)
        self.index = ToolIndex(list(catalog))
        self.search_spec = _search_spec(settings)
        self.call_spec = _call_spec()

    def applies_to(self, principal: Principal) -> bool:
        return principal.id in self._principals or not self._roles.isdisjoint(principal.roles)

    def listed(self, visible: Sequence[ToolSpec]) -> list[ToolSpec]:
        """What a principal in discovery mode is shown, given the tools it may see."""
        return [self.search_spec, self.call_spec, *(t for t in visible if t.name in self._always)]

    def search(self, visible: Sequence[ToolSpec], arguments: Mapping[str, Any]) -> dict[str, Any]:
        """`search_tools`: the best matches among `visible`, as MCP `tools/list` entries."""
        query, limit = self._search_arguments(arguments)
        found = self.index.search(query, [t.name for t in visible], limit)
        return {"tools": [mcp_form(tool) for tool, _ in found], "count": len(found)}

    def unwrap(self, arguments: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """`call_tool`'s arguments: the tool to call and its own arguments."""
        problems = []
        name = arguments.get("name")
        inner = arguments.get("arguments", {})
        unknown = sorted(set(arguments) - {"name", "arguments"})
        if unknown:
            problems.append(
                ArgumentProblem("", f"unknown argument(s) {unknown}: expected name and arguments")
            )
        if not isinstance(name, str) or not TOOL_NAME_PATTERN.match(name):
            problems.append(ArgumentProblem("/name", "expected the name of a tool found with search_tools"))
        elif name in META_TOOLS:
            problems.append(ArgumentProblem("/name", f"{name} is called directly, not through call_tool"))
        if not isinstance(inner, dict):
            problems.append(ArgumentProblem("/arguments", "expected an object: the tool's own arguments"))
        if problems:
            raise InvalidArguments("call_tool: " + "; ".join(p.message for p in problems), problems)
        assert isinstance(name, str) and isinstance(inner, dict)
        return name, inner

    def _search_arguments(self, arguments: Mapping[str, Any]) -> tuple[str, int]:
        problems = []
        query = arguments.get("query")
        limit = arguments.get("limit", self.settings.default_limit)
        unknown = sorted(set(arguments) - {"query", "limit"})
        if unknown:
            problems.append(ArgumentProblem("", f"unknown argument(s) {unknown}: expected query and limit"))
        if not isinstance(query, str) or not query.strip():
            problems.append(ArgumentProblem("/query", "expected what you need to do, in words"))
        elif len(query) > MAX_QUERY_CHARS:
            problems.append(ArgumentProblem("/query", f"at most {MAX_QUERY_CHARS} characters"))
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= self.settings.max_limit:
            problems.append(
                ArgumentProblem("/limit", f"expected a whole number from 1 to {self.settings.max_limit}")
            )
        if problems:
            raise InvalidArguments("search_tools: " + "; ".join(p.message for p in problems), problems)
        assert isinstance(query, str) and isinstance(limit, int)
        return query, limit


def _search_spec(settings: ToolSearchSettings) -> ToolSpec:
    return ToolSpec(
        name=SEARCH_TOOLS,
        description=(
            "Find the tools for a task among the many you may use. Describe what you need in words "
            "(e.g. 'send a text message to a phone'); the answer lists the best-matching tools with "
            "their input schemas. Then call one with call_tool."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_QUERY_CHARS,
                    "description": "What you need to do, in words",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": settings.max_limit,
                    "default": settings.default_limit,
                    "description": "How many tools to return at most",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        backend=BACKEND,
        origin=SEARCH_TOOLS,
        annotations=ToolAnnotations(read_only=True, idempotent=True, open_world=False),
    )


def _call_spec() -> ToolSpec:
    return ToolSpec(
        name=CALL_TOOL,
        description=(
            "Call a tool found with search_tools: give its name and its arguments as its input "
            "schema describes them. The answer is that tool's answer."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "name": {
                    "type": "string",
                    "pattern": TOOL_NAME_PATTERN.pattern,
                    "description": "The tool's name",
                },
                "arguments": {"type": "object", "description": "The tool's arguments"},
            },
            "required": ["name"],
            "additionalProperties": False,
        },
        backend=BACKEND,
        origin=CALL_TOOL,
        annotations=ToolAnnotations(),
    )


def check_tool_search(settings: ToolSearchSettings, catalog: Catalog, source: str) -> list[ConfigProblem]:
    """Always-visible tools must exist, and no tool may take a meta-tool's name."""
    if not settings.enabled:
        return []
    try:
        import bm25s  # noqa: F401
        import Stemmer  # noqa: F401
    except ImportError as exc:
        why = f"tool search needs {exc.name}: pip install 'pasarela[search]'"
        return [ConfigProblem(source, "tool_search", why)]
    problems = [
        ConfigProblem(source, f"tool_search.always_visible[{i}]", f"no tool named {name!r}")
        for i, name in enumerate(settings.always_visible)
        if name not in catalog
    ]
    problems += [
        ConfigProblem(
            source,
            "tool_search",
            f"a tool is named {name!r}, which discovery mode uses for its own tool: rename it "
            f"(backends.<name>.tools.rename) or turn tool_search off",
        )
        for name in META_TOOLS
        if name in catalog
    ]
    return problems
