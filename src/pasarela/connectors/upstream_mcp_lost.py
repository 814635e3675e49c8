"""How the official SDK's client reports a session with an upstream MCP server that is lost
(the connection closed, the session expired, the upstream restarted and knows it no more), as
opposed to a request the upstream refused: the first is re-established, the second is not."""

from __future__ import annotations

import mcp_types as types
from mcp.shared.exceptions import MCPError


def session_broken(exc: MCPError) -> bool:
    """How the SDK's client reports a lost connection or an expired session, unlike a refusal."""
    code, message = exc.error.code, exc.error.message
    return (
        code == types.CONNECTION_CLOSED
        # The SDK client's words for a 404, and the SDK server's own (a restarted upstream).
        or (code == types.INVALID_REQUEST and message in ("Session terminated", "Session not found"))
        or (code == types.INTERNAL_ERROR and message == "Server returned an error response")
    )
