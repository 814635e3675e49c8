"""MCP sessions shared fairly: no principal can take the session table from the others.

Per principal, on each replica: at most `per_principal` sessions are open, and at most
`open_rate` new ones are opened. A principal at its cap that opens another one loses its own
least recently used *idle* session (no request in flight, no open stream): its id then
answers 404 and a client that still wanted it initializes again, as MCP clients do. Only when
all of its sessions are busy, or it opens them too fast, is it refused: HTTP 429 with
Retry-After and a JSON-RPC error whose `data` is the problem document. The global `max`
(the SDK's limit) is therefore reached only by `max / per_principal` principals or more.

Built on the SDK's StreamableHTTPSessionManager: its admission and discard hooks are where a
session is registered and forgotten (the SDK has no public hook for either).
"""

from __future__ import annotations

import contextvars
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import orjson
import structlog
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from mcp.server import Server
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from pasarela.config.traffic import McpSessionSettings
from pasarela.errors import RateLimited
from pasarela.server.middleware import PRINCIPAL_KEY
from pasarela.server.peers import Forwarder, WorkerSlot
from pasarela.server.resumable import SessionEvents, SessionTransport

log = structlog.get_logger("pasarela.mcp.sessions")


@dataclass
class _Opening:
    principal: str
    pending: bool = True  # counted in SessionTable.pending until registered or abandoned


# Who is opening the session being admitted (the SDK's admission hook is not told).
_opening: contextvars.ContextVar[_Opening | None] = contextvars.ContextVar(
    "pasarela_mcp_opening", default=None
)
SERVER_ERROR = -32000  # JSON-RPC: implementation-defined server error
BUSY_RETRY_AFTER = 5.0  # seconds: a principal whose every session is busy may try again then
RETRY_MS = 1000  # how soon a client whose stream dropped should reconnect


class SessionTable:
    """Which principal owns which session, least recently used first, and which are busy."""

    def __init__(self) -> None:
        self.by_principal: dict[str, OrderedDict[str, None]] = {}
        self.owner: dict[str, str] = {}
        self.busy: Counter[str] = Counter()
        self.pending: Counter[str] = Counter()  # admitted openings not yet registered

    def held(self, principal: str) -> int:
        return len(self.by_principal.get(principal, ())) + self.pending[principal]

    def add(self, principal: str, session: str) -> None:
        self.by_principal.setdefault(principal, OrderedDict())[session] = None
        self.owner[session] = principal

    def touch(self, session: str) -> None:
        principal = self.owner.get(session)
        if principal is not None:
            self.by_principal[principal].move_to_end(session)

    def remove(self, session: str) -> None:
        principal = self.owner.pop(session, None)
        self.busy.pop(session, None)
        if principal is None:
            return
        sessions = self.by_principal[principal]
        sessions.pop(session, None)
        if not sessions:
            del self.by_principal[principal]

    def idle_victim(self, principal: str) -> str | None:
        """The principal's least recently used session with nothing in flight."""
        return next((s for s in self.by_principal.get(principal, ()) if not self.busy[s]), None)


class FairSessionManager(StreamableHTTPSessionManager):
    def __init__(
        self,
        app: Server[Any],
        settings: McpSessionSettings,
        security: TransportSecuritySettings,
        *,
        max_body_bytes: int,
        slot: WorkerSlot | None = None,
        on_forward: Callable[[], None] = lambda: None,
        on_open: Callable[[str], None] = lambda principal: None,
        on_close: Callable[[str], None] = lambda session: None,
    ) -> None:
        super().__init__(
            app=app,
            security_settings=security,
            max_request_body_size=max_body_bytes,
            session_idle_timeout=settings.idle_timeout,
            max_sessions=settings.max,
            # Told to clients in each stream's `retry:` field (SEP-1699), when streams resume.
            retry_interval=RETRY_MS if settings.resume_events else None,
        )
        self.settings = settings
        self.table = SessionTable()
        self._rate = parse(settings.open_rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        # Under `serve --workers N`: session ids name their worker; the others pass requests on.
        self.slot = slot
        self.forwarder = Forwarder(slot) if slot is not None and slot.count > 1 else None
        self._on_forward = on_forward
        self._on_open = on_open  # told the principal of each session opened (tools per session)
        self._on_close = on_close  # told the id of each session forgotten (its log level, list_changed)

    @property
    def event_store(self) -> SessionEvents | None:
        """Read by the SDK once per session it opens: each session gets a store of its own."""
        capacity = self.settings.resume_events
        return SessionEvents(capacity) if capacity > 0 else None

    @event_store.setter
    def event_store(self, value: object) -> None:
        """The SDK's constructor sets it; the getter above decides."""

    async def _handle_stateful_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = Headers(scope=scope).get(MCP_SESSION_ID_HEADER)
        if session is not None:
            owner = self.slot.owner(session) if self.slot is not None else None
            if self.forwarder is not None and owner is not None and owner != self.forwarder.slot.index:
                self._on_forward()
                await self.forwarder(owner, scope, receive, send)
                return
            await self._serve_existing(session, scope, receive, send)
            return
        principal = getattr(scope.get(PRINCIPAL_KEY), "id", None)
        if principal is None:  # unauthenticated routes never reach here; stay safe if one does
            await super()._handle_stateful_request(scope, receive, send)
            return
        async with self._session_creation_lock:
            refusal = self._make_room(principal)
            if refusal is None:
                self.table.pending[principal] += 1
        if refusal is not None:
            log.info("mcp_session_refused", reason=refusal.detail)
            await _refusal_response(refusal)(scope, receive, send)
            return
        opening = _Opening(principal)
        token = _opening.set(opening)
        try:
            await super()._handle_stateful_request(scope, receive, send)
        finally:
            _opening.reset(token)
            if opening.pending:  # refused by the global cap, or failed before registering
                self._unpend(principal)

    async def _serve_existing(self, session: str, scope: Scope, receive: Receive, send: Send) -> None:
        tracked = session in self.table.owner
        if tracked:
            self.table.busy[session] += 1
            self.table.touch(session)
        try:
            await super()._handle_stateful_request(scope, receive, send)
        finally:
            if tracked and session in self.table.owner:
                self.table.busy[session] -= 1

    def _make_room(self, principal: str) -> RateLimited | None:
        """None when `principal` may open a session now (evicting its own idle one if need be)."""
        cap = self.settings.per_principal
        victim = None
        if self.table.held(principal) >= cap:
            victim = self.table.idle_victim(principal)
            if victim is None:
                return RateLimited(
                    f"you already have {cap} MCP sessions open on this gateway, all busy: end one "
                    "(DELETE /mcp) or reuse it (server.mcp_sessions.per_principal)",
                    retry_after=BUSY_RETRY_AFTER,
                    limit=f"{cap} open sessions",
                )
        if not self._limiter.hit(self._rate, principal):  # before evicting: a refusal costs nothing
            reset = self._limiter.get_window_stats(self._rate, principal).reset_time
            return RateLimited(
                f"you are opening MCP sessions too fast (at most {self.settings.open_rate}): reuse "
                "the session you have (its Mcp-Session-Id) instead of initializing again",
                retry_after=max(1.0, reset - time.time()),
                limit=self.settings.open_rate,
            )
        if victim is not None:
            self._evict(victim)
        return None

    def _evict(self, session: str) -> None:
        """Forget the session now (its id answers 404 at once); close its transport in the background."""
        transport = self._server_instances.pop(session, None)
        self._session_owners.pop(session, None)
        self.table.remove(session)
        log.info("mcp_session_evicted", reason="principal at its session cap; least recently used idle")
        if transport is not None and self._task_group is not None:
            self._task_group.start_soon(self._discard_session, session, transport)

    def _unpend(self, principal: str) -> None:
        self.table.pending[principal] -= 1
        if self.table.pending[principal] <= 0:
            del self.table.pending[principal]

    def _admit_session(self, requestor: Any) -> StreamableHTTPServerTransport | None:
        transport = self._new_transport(requestor)
        if transport is not None and self.slot is not None and transport.mcp_session_id is not None:
            self._name_by_worker(transport, transport.mcp_session_id)
        opening = _opening.get()
        if transport is not None and opening is not None and transport.mcp_session_id is not None:
            opening.pending = False
            self._unpend(opening.principal)
            self.table.add(opening.principal, transport.mcp_session_id)
            self._on_open(opening.principal)
        return transport

    def _new_transport(self, requestor: Any) -> StreamableHTTPServerTransport | None:
        """The SDK's `_admit_session`, with a transport that primes by the session's version."""
        if self.max_sessions is not None and len(self._server_instances) >= self.max_sessions:
            return None
        transport = SessionTransport(
            mcp_session_id=uuid4().hex,
            is_json_response_enabled=self.json_response,
            event_store=self.event_store,
            security_settings=self.security_settings,
            retry_interval=self.retry_interval,
            idle_timeout=self.session_idle_timeout,
        )
        assert transport.mcp_session_id is not None
        if requestor is not None:
            self._session_owners[transport.mcp_session_id] = requestor
        self._server_instances[transport.mcp_session_id] = transport
        return transport

    def _name_by_worker(self, transport: StreamableHTTPServerTransport, made: str) -> None:
        """Rename a session the SDK just registered (nothing has seen its id yet) to name this worker."""
        assert self.slot is not None
        named = self.slot.session_id(made)
        transport.mcp_session_id = named
        self._server_instances[named] = self._server_instances.pop(made)
        if made in self._session_owners:
            self._session_owners[named] = self._session_owners.pop(made)

    async def _discard_session(self, session_id: str, transport: StreamableHTTPServerTransport) -> None:
        self.table.remove(session_id)
        self._on_close(session_id)
        await super()._discard_session(session_id, transport)


def _refusal_response(error: RateLimited) -> Response:
    body = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": SERVER_ERROR, "message": error.detail, "data": error.to_problem()},
    }
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        media_type="application/json",
        headers=dict(error.headers()),
    )
