"""What an MCP tools/call needs, answered now or as a task: who calls, its request id and
idempotency key, and how outcomes and errors become MCP answers.

The one MCP translation of PasarelaError lives here: errors with an `mcp_code` become
JSON-RPC errors; all others become a tool result with `isError: true` whose text is the
same problem document the REST door returns, so a model can read it and correct itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
import orjson
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import TypeAdapter, ValidationError

from pasarela import jsonsafe
from pasarela.connectors.upstream_mcp import MCP_CONTENT
from pasarela.errors import PasarelaError
from pasarela.identity import Principal
from pasarela.secrets import Redactor
from pasarela.server.arguments import idempotency_key
from pasarela.server.middleware import principal_of, request_id_of
from pasarela.telemetry.correlation import current_trace_id

PrincipalResolver = Callable[[ServerRequestContext[Any]], Principal]


def principal_from_http(ctx: ServerRequestContext[Any]) -> Principal:
    request = ctx.request
    scope = getattr(request, "scope", None)
    if scope is None:
        raise MCPError(types.INVALID_REQUEST, "this MCP transport carries no authenticated principal")
    return principal_of(scope)


def mcp_request_id(ctx: ServerRequestContext[Any]) -> str | None:
    """The HTTP request's id, with the JSON-RPC id (one HTTP request may carry several)."""
    scope = getattr(ctx.request, "scope", None)
    if scope is not None and (found := request_id_of(scope)):
        return f"{found}-{ctx.request_id}" if ctx.request_id is not None else found
    return None


def meta_idempotency_key(params: types.CallToolRequestParams) -> str | None:
    """`_meta.idempotency_key` of a tools/call, if the client sent one."""
    meta: Any = params.meta
    key = meta.get("idempotency_key") if isinstance(meta, dict) else getattr(meta, "idempotency_key", None)
    return idempotency_key(key, source="_meta.idempotency_key")


def problem_result(problem: dict[str, Any], redactor: Redactor) -> types.CallToolResult:
    """A problem document as a tool result the model reads (`isError: true`)."""
    text = redactor.redact(jsonsafe.dumps(problem).decode())
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def error_result(error: PasarelaError, redactor: Redactor, request_id: str | None) -> types.CallToolResult:
    """A PasarelaError as MCP sees it (raises MCPError where the protocol wants one)."""
    problem = error.to_problem()
    if request_id:
        problem["request_id"] = request_id
    if (trace_id := current_trace_id()) is not None:
        problem["trace_id"] = trace_id
    if error.mcp_code is not None:
        text = redactor.redact(jsonsafe.dumps(problem).decode())
        raise MCPError(error.mcp_code, redactor.redact(error.detail), orjson.loads(text))
    return problem_result(problem, redactor)


def protocol_error(error: PasarelaError, redactor: Redactor, request_id: str | None) -> MCPError:
    """A PasarelaError as a JSON-RPC error, where MCP has no tool result to carry it (a request
    to start a task that was refused): the problem document is its `data`."""
    problem = error.to_problem()
    if request_id:
        problem["request_id"] = request_id
    data = orjson.loads(redactor.redact(jsonsafe.dumps(problem).decode()))
    code = error.mcp_code or (types.INVALID_PARAMS if error.status < 500 else types.INTERNAL_ERROR)
    return MCPError(code, redactor.redact(error.detail), data)


CONTENT_BLOCKS: TypeAdapter[list[types.ContentBlock]] = TypeAdapter(list[types.ContentBlock])


def success_result(result: Any, meta: dict[str, Any]) -> types.CallToolResult:
    if meta.get("format") == MCP_CONTENT and isinstance(result, list):
        # An upstream MCP tool's own content blocks (images, audio, resources), as it sent them.
        try:
            blocks = CONTENT_BLOCKS.validate_python(result)
        except ValidationError:
            blocks = None  # changed on the way (a transformation): shown as JSON like any result
        if blocks:
            return types.CallToolResult(content=blocks, meta={"pasarela": meta})
    text = jsonsafe.dumps(result).decode()
    structured = result if isinstance(result, dict) else None
    content: list[types.ContentBlock] = [types.TextContent(type="text", text=text)]
    if meta.get("partial"):
        # A partial answer is still an answer: the model reads what is missing, not an error.
        content.append(types.TextContent(type="text", text=partial_note(meta.get("errors", []))))
    return types.CallToolResult(content=content, structured_content=structured, meta={"pasarela": meta})


def partial_note(errors: list[dict[str, Any]]) -> str:
    """One line per missing part, e.g. "note: score (get_credit_score) temporarily unavailable"."""
    lines = []
    for error in errors:
        why = "not permitted" if error.get("code") == "denied" else "temporarily unavailable"
        lines.append(f"note: {error.get('step')} ({error.get('tool')}) {why}")
    return "\n".join(lines) or "note: part of this answer is missing"
