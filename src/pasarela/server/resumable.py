"""Resumable MCP streams (SEP-1699): a session's recent SSE events, so a client whose stream
dropped reconnects with `Last-Event-ID` and gets what it missed.

Each session has a store of its own (`SessionEvents`), made when its transport is: the SDK keys
events by JSON-RPC request id, which every session numbers from 1, so one store shared by all
sessions would mix them. A store keeps the last `capacity` events and goes with its session;
event ids are random, so knowing one means having received it.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage


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
