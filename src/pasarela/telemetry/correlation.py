"""What ties a call to the agent's request: its trace, the MCP session it came in, and the
conversation the agent says it belongs to.

Set by the doors (and by tracing, when it is on) in a context variable, so stages, logs and the
audit read it without any of them knowing which door a call came through. Costs one context
variable lookup; nothing here imports OpenTelemetry.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# W3C Trace Context, version 00: version-traceid-parentid-flags; all-zero ids are invalid.
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
MAX_TRACESTATE = 512  # the W3C limit for tracestate (32 list members) is about this long
MAX_CONVERSATION_ID = 256  # longer is not an id: ignored, as an invalid traceparent is
CONVERSATION_HEADER = "x-conversation-id"
CONVERSATION_META = "conversationId"  # the same, in an MCP request's `_meta`


@dataclass(frozen=True, slots=True)
class Correlation:
    trace_id: str | None = None
    # The agent's own trace context, passed on unchanged to backends while tracing is off.
    traceparent: str | None = None
    tracestate: str | None = None
    session: str | None = None  # a hash of the MCP session id, never the id itself
    # A hash of the conversation id the agent sent (`X-Conversation-Id`, MCP `_meta.conversationId`):
    # tools per conversation, across doors and sessions. Hashed: it is the agent's text, unbounded.
    conversation: str | None = None


NONE = Correlation()
_current: ContextVar[Correlation] = ContextVar("pasarela_correlation", default=NONE)


def parse_traceparent(value: str | None) -> str | None:
    """The trace id of a valid `traceparent`, else None (an invalid one is ignored, per W3C)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or match.group(1) == _ZERO_TRACE or match.group(2) == _ZERO_SPAN:
        return None
    return match.group(1)


def inbound(
    carrier: Mapping[str, str], session: str | None = None, conversation: str | None = None
) -> Correlation:
    """The correlation an agent's headers (or MCP `_meta`) carry."""
    traceparent = carrier.get("traceparent")
    trace_id = parse_traceparent(traceparent)
    if trace_id is None:
        return Correlation(session=session, conversation=conversation)
    tracestate = carrier.get("tracestate")
    if tracestate is not None and len(tracestate) > MAX_TRACESTATE:
        tracestate = None
    return Correlation(
        trace_id, traceparent.strip().lower() if traceparent else None, tracestate, session, conversation
    )


def session_hash(session_id: str | None) -> str | None:
    """MCP session ids admit their holder to the session: only a hash is ever recorded."""
    if not session_id:
        return None
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def conversation_hash(conversation_id: object) -> str | None:
    """The recorded form of an agent's conversation id: a hash (any length in, 32 characters out);
    None for anything but a non-empty string of at most MAX_CONVERSATION_ID characters."""
    if not isinstance(conversation_id, str) or not 0 < len(conversation_id) <= MAX_CONVERSATION_ID:
        return None
    return hashlib.sha256(b"conversation:" + conversation_id.encode()).hexdigest()[:32]


def current() -> Correlation:
    return _current.get()


def current_trace_id() -> str | None:
    return _current.get().trace_id


@contextmanager
def correlated(correlation: Correlation) -> Iterator[Correlation]:
    token = _current.set(correlation)
    try:
        yield correlation
    finally:
        _current.reset(token)


def passthrough_headers() -> dict[str, str]:
    """With tracing off: the agent's trace context, unchanged, for the backend."""
    found = _current.get()
    if found.traceparent is None:
        return {}
    headers = {"traceparent": found.traceparent}
    if found.tracestate:
        headers["tracestate"] = found.tracestate
    return headers
