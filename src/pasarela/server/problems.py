"""The one HTTP translation of PasarelaError: RFC 9457 problem+json (JSON-RPC on `/mcp`)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.types import Scope

from pasarela import jsonsafe
from pasarela.errors import AuthenticationError, PasarelaError
from pasarela.secrets import Redactor
from pasarela.telemetry.correlation import current_trace_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
MCP_PATH = "/mcp"
# JSON-RPC codes for what `/mcp` refuses before reading a message. MCP defines none for
# authentication; -32001 is in the range JSON-RPC leaves to servers.
JSONRPC_UNAUTHENTICATED = -32001
JSONRPC_INVALID_REQUEST = -32600


def _encode(document: Any, redactor: Redactor) -> bytes:
    return redactor.redact(jsonsafe.dumps(document).decode()).encode()


def problem_document(error: PasarelaError, request_id: str | None) -> dict[str, Any]:
    problem = error.to_problem(instance=f"urn:pasarela:request:{request_id}" if request_id else None)
    if request_id:
        problem["request_id"] = request_id
    if (trace_id := current_trace_id()) is not None:
        problem["trace_id"] = trace_id
    return problem


def problem_response(error: PasarelaError, redactor: Redactor, *, request_id: str | None = None) -> Response:
    body = _encode(problem_document(error, request_id), redactor)
    return Response(
        body, status_code=error.status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(error.headers())
    )


def jsonrpc_error_response(
    error: PasarelaError, redactor: Redactor, *, request_id: str | None = None
) -> Response:
    """The same refusal as a JSON-RPC error, which MCP clients read and show (problem+json they
    do not): same status and headers, the problem document as the error's `data`."""
    if isinstance(error, AuthenticationError):
        code = JSONRPC_UNAUTHENTICATED
    else:
        code = error.mcp_code if error.mcp_code is not None else JSONRPC_INVALID_REQUEST
    message = f"{error.title}: {error.detail}"
    document = {
        "jsonrpc": "2.0",
        "id": None,  # refused before the message (and its id) was read
        "error": {"code": code, "message": message, "data": problem_document(error, request_id)},
    }
    return Response(
        _encode(document, redactor),
        status_code=error.status,
        media_type="application/json",
        headers=dict(error.headers()),
    )


def door_error_response(error: PasarelaError, redactor: Redactor, scope: Scope, request_id: str) -> Response:
    """An error raised before a door's handler ran, in the form that door's clients read."""
    path = str(scope.get("path", ""))
    if path == MCP_PATH or path.startswith(MCP_PATH + "/"):
        return jsonrpc_error_response(error, redactor, request_id=request_id)
    return problem_response(error, redactor, request_id=request_id)
