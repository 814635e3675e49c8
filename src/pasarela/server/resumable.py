"""Resumable MCP streams (SEP-1699): a session's recent SSE events, so a client whose stream
dropped reconnects with `Last-Event-ID` and gets what it missed.

Each session has a store of its own (`SessionEvents`), made when its transport is: the SDK keys
events by JSON-RPC request id, which every session numbers from 1, so one store shared by all
sessions would mix them. A store keeps the last `capacity` events and goes with its session;
event ids are random, so knowing one means having received it.

Whether a stream is primed (and may be closed early for the client to resume) follows the
version the session negotiated, not the `MCP-Protocol-Version` a later request's header
repeats: a client that negotiated 2025-11-25 reads priming events whatever it puts there
(`SessionTransport`).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Any

from mcp.server.streamable_http import (
    EventCallback,
    EventId,
    EventMessage,
    EventStore,
    StreamableHTTPServerTransport,
    StreamId,
)
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCMessage, JSONRPCRequest, RequestId
from mcp_types.version import is_version_at_least
from starlette.requests import Request

RESUMABLE_SINCE = "2025-11-25"  # the first protocol version whose clients read priming events


class SessionEvents(EventStore):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        # event id → (stream, message); None for a stream's priming event. Oldest first.
        self._events: OrderedDict[EventId, tuple[StreamId, JSONRPCMessage | None]] = OrderedDict()

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = secrets.token_urlsafe(12)
        self._events[event_id] = (stream_id, message)
        while len(self._events) > self.capacity:
            self._events.popitem(last=False)  # a client this far behind starts its stream afresh
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        found = self._events.get(last_event_id)
        if found is None:
            return None
        stream = found[0]
        later = False
        for event_id, (event_stream, message) in list(self._events.items()):
            if later and event_stream == stream and message is not None:
                await send_callback(EventMessage(message, event_id))
            later = later or event_id == last_event_id
        return stream


class SessionTransport(StreamableHTTPServerTransport):
    """The SDK's transport, priming by the session's protocol version (the one its initialize
    asked for: the server agrees to it, or answers with a later one when it knows no such
    version) when a request's header names an older one."""

    session_version: str | None = None

    def _version(self, said: str) -> str:
        if self.session_version is None:  # the session's first stream is its initialize's
            self.session_version = said
        resumable = is_version_at_least(self.session_version, RESUMABLE_SINCE)
        return RESUMABLE_SINCE if resumable and not is_version_at_least(said, RESUMABLE_SINCE) else said

    async def _mint_priming_event(self, stream_id: StreamId, protocol_version: str) -> Any:
        return await super()._mint_priming_event(stream_id, self._version(protocol_version))

    def _create_session_message(
        self, message: JSONRPCRequest, request: Request, request_id: RequestId, protocol_version: str
    ) -> SessionMessage:
        return super()._create_session_message(message, request, request_id, self._version(protocol_version))
