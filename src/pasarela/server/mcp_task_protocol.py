"""The protocol side of MCP tasks: which methods are served at which revision, how the
2026-07-28 extension is installed on the low-level server, and the 2025-11-25 middleware.

Pasarela builds on the SDK's low-level `Server`; the SDK applies extensions in its high-level
`MCPServer` only, so `install_extension` does the same for ours: each method bound at the
revisions it names (`METHOD_NOT_FOUND` at others), the extension advertised under
`capabilities.extensions`, and its interceptor composed around `tools/call`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import (
    Extension,
    MethodBinding,
    RequestHandler,
    compose_tool_call_handler,
    validate_extension_identifier,
)
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

if TYPE_CHECKING:
    from pasarela.server.mcp_tasks import McpTasks

TASKS = "io.modelcontextprotocol/tasks"
LEGACY = "2025-11-25"  # the one handshake-era revision with tasks
MODERN = frozenset(MODERN_PROTOCOL_VERSIONS)
LEGACY_CAPABILITY: dict[str, Any] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
# `execution` as 2025-11-25's `taskSupport`. An async tool is "optional", not "required": a
# required one must refuse plain calls, and most 2025-11-25 clients do not do tasks; they wait.
TASK_SUPPORT = {"sync": "forbidden", "optional": "optional", "async": "optional"}


class UpdateTaskRequestParams(types.RequestParams):
    task_id: str
    input_responses: dict[str, Any] | None = None


def declares_tasks(ctx: ServerRequestContext[Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions and TASKS in capabilities.extensions)


class TasksExtension(Extension):
    """`io.modelcontextprotocol/tasks`: the methods (both eras) and the tools/call interceptor."""

    identifier = TASKS

    def __init__(self, tasks: McpTasks) -> None:
        self.tasks = tasks

    def methods(self) -> Sequence[MethodBinding]:
        both = frozenset({LEGACY, *MODERN})
        return (
            MethodBinding("tasks/get", types.GetTaskRequestParams, self.tasks.methods.get, both),
            MethodBinding("tasks/cancel", types.CancelTaskRequestParams, self.tasks.methods.cancel, both),
            MethodBinding("tasks/update", UpdateTaskRequestParams, self.tasks.methods.update, MODERN),
            MethodBinding(
                "tasks/result",
                types.GetTaskPayloadRequestParams,
                self.tasks.methods.result,
                frozenset({LEGACY}),
            ),
            MethodBinding(
                "tasks/list", types.PaginatedRequestParams, self.tasks.methods.list_tasks, frozenset({LEGACY})
            ),
        )

    async def intercept_tool_call(
        self, params: types.CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        return await self.tasks.intercept(params, ctx, call_next)


class LegacyTaskCalls:
    """Server middleware for 2025-11-25: a task-augmented tools/call is answered here (the SDK
    would validate the CreateTaskResult as a CallToolResult); `initialize` advertises the
    `tasks` capability and `tools/list` each tool's `execution.taskSupport`."""

    def __init__(self, tasks: McpTasks) -> None:
        self.tasks = tasks

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        legacy = ctx.protocol_version == LEGACY
        params = ctx.params
        if (
            legacy
            and ctx.method == "tools/call"
            and isinstance(params, Mapping)
            and params.get("task") is not None
        ):
            return await self.tasks.start_legacy(ctx)
        result = await call_next(ctx)
        if not isinstance(result, dict):
            return result
        if ctx.method == "initialize" and result.get("protocolVersion") == LEGACY:
            result["capabilities"] = {**result.get("capabilities", {}), "tasks": LEGACY_CAPABILITY}
        elif legacy and ctx.method == "tools/list":
            for tool in result.get("tools", ()):
                tool["execution"] = {"taskSupport": TASK_SUPPORT[self.tasks.execution(tool["name"])]}
        return result


def install_extension(server: Server[Any], extension: Extension, call_tool: RequestHandler) -> None:
    """What `MCPServer(extensions=[...])` does, for the low-level `Server` Pasarela builds on:
    the extension's methods (gated by protocol version), its advertisement under
    `capabilities.extensions`, and its interceptor around `tools/call`."""
    validate_extension_identifier(extension.identifier, owner=type(extension).__name__)
    for method in extension.methods():
        if server.get_request_handler(method.method) is not None:
            raise ValueError(f"{extension.identifier} binds {method.method!r}, which is already served")
        server.add_request_handler(method.method, method.params_type, _gated(method))
    server.extensions[extension.identifier] = extension.settings()
    server.add_request_handler(
        "tools/call", types.CallToolRequestParams, compose_tool_call_handler([extension], call_tool)
    )


def _gated(method: MethodBinding) -> RequestHandler:
    versions = method.protocol_versions

    async def gated(ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
        if versions is not None and ctx.protocol_version not in versions:
            raise MCPError(types.METHOD_NOT_FOUND, "Method not found", method.method)
        return await method.handler(ctx, params)

    return gated


def missing_extension() -> MCPError:
    """-32021: a 2026-07-28 request about tasks that did not declare the extension."""
    required = types.ClientCapabilities(extensions={TASKS: {}})
    data = types.MissingRequiredClientCapabilityErrorData(required_capabilities=required)
    return MCPError(
        types.MISSING_REQUIRED_CLIENT_CAPABILITY,
        f"declare the {TASKS!r} extension in this request's client capabilities to use tasks",
        data.model_dump(by_alias=True, mode="json", exclude_none=True),
    )
