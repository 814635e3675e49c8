"""The REST door's events.

POST /v1/events/{source}                 a system pushes an event (signed its own way; no agent key)
GET  /v1/events?types=&after=&wait=30s&limit=&consumer=   a page of events for the caller (long poll)
GET  /v1/events/stream?types=&after=      Server-Sent Events, resumable with Last-Event-ID
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Scope

from pasarela import jsonsafe
from pasarela.config.events import RESERVED_SOURCES
from pasarela.errors import InvalidRequest, PasarelaError
from pasarela.events import Events
from pasarela.events.access import TypeFilter
from pasarela.events.delivery import parse_cursor
from pasarela.identity.principal import Principal
from pasarela.secrets import Redactor
from pasarela.server.middleware import principal_of, request_id_of
from pasarela.server.problems import problem_response
from pasarela.server.query import limit_param, wait_param

MAX_PAGE = 500
HEARTBEAT = 15.0  # seconds between SSE comments on a quiet stream (proxies close silent ones)
_TYPES = re.compile(r"^[A-Za-z0-9_.*?-]{1,200}$")
_CONSUMER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_PUSH = re.compile(r"^/v1/events/[A-Za-z0-9_-]{1,64}$")


def pushed_by_a_system(scope: Scope) -> bool:
    """`POST /v1/events/{source}`: authenticated by the source's signature, not an agent's key."""
    path = str(scope.get("path", ""))
    return (
        scope.get("method") == "POST"
        and _PUSH.match(path) is not None
        and path.rsplit("/", 1)[1] not in RESERVED_SOURCES
    )


def _json(payload: Any, status: int = 200) -> Response:
    return Response(jsonsafe.dumps(payload), status_code=status, media_type="application/json")


class EventRoutes:
    def __init__(self, events: Callable[[], Events], redactor: Redactor) -> None:
        self.events = events  # the current runtime's (a reload replaces it)
        self.redactor = redactor

    def routes(self) -> list[Route]:
        return [
            Route("/v1/events", self.page, methods=["GET"]),
            Route("/v1/events/stream", self.stream, methods=["GET"]),
            Route("/v1/events/{source}", self.push, methods=["POST"]),
        ]

    async def push(self, request: Request) -> Response:
        try:
            body = await request.body()
            appended = await self.events().receive_webhook(
                request.path_params["source"], request.headers, body
            )
        except PasarelaError as exc:
            return problem_response(exc, self.redactor, request_id=request_id_of(request.scope))
        return _json(
            {
                "stored": not appended.duplicate,
                "duplicate": appended.duplicate,
                "sequence": str(appended.seq),
            },
            200 if appended.duplicate else 202,
        )

    async def page(self, request: Request) -> Response:
        params = request.query_params
        try:
            events = self.events()
            principal = principal_of(request.scope)
            types = _types(params.get("types"))
            events.access.check_subscribe(principal, types, "rest")
            limit = limit_param(params.get("limit"), default=100, maximum=MAX_PAGE)
            wait = min(wait_param(params.get("wait")), events.settings.max_wait)
            consumer = _consumer(params.get("consumer"), principal)
            given = params.get("after")
            after = parse_cursor(given) if given is not None else None
            if consumer is not None:
                if after is not None:  # reading on from `after` acknowledges what came before it
                    await events.core.positions.set(consumer, str(after))
                else:
                    stored = await events.core.positions.get(consumer)
                    after = int(stored) if stored is not None else None
            start = await events.reader.start(after)
            page = await events.reader.page(principal, types, start, limit, wait, "rest")
        except PasarelaError as exc:
            return problem_response(exc, self.redactor, request_id=request_id_of(request.scope))
        return _json({"events": page.events, "next_cursor": str(page.cursor)})

    async def stream(self, request: Request) -> Response:
        params = request.query_params
        try:
            events = self.events()
            principal = principal_of(request.scope)
            types = _types(params.get("types"))
            events.access.check_subscribe(principal, types, "sse")
            resume = request.headers.get("last-event-id") or params.get("after")
            start = await events.reader.start(parse_cursor(resume, "Last-Event-ID") if resume else None)
        except PasarelaError as exc:
            return problem_response(exc, self.redactor, request_id=request_id_of(request.scope))
        return StreamingResponse(
            _sse(events, principal, types, start),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


async def _sse(events: Events, principal: Principal, types: TypeFilter, start: int) -> AsyncIterator[bytes]:
    yield f": events after {start}\nretry: 1000\n\n".encode()
    async for event in events.reader.stream(principal, types, start, "sse", HEARTBEAT):
        if event is None:
            yield b": keep-alive\n\n"
            continue
        yield b"id: %s\nevent: %s\ndata: %s\n\n" % (
            event["sequence"].encode(),
            event["type"].encode(),
            jsonsafe.dumps(event),
        )


def _types(value: str | None) -> TypeFilter:
    patterns = [p for p in (value or "").split(",") if p]
    bad = [p for p in patterns if not _TYPES.match(p)]
    if bad:
        raise InvalidRequest(f"types: {bad[0]!r:.80} is not an event type or a glob of them (customer_*)")
    return TypeFilter(patterns)


def _consumer(value: str | None, principal: Principal) -> str | None:
    if value is None:
        return None
    if not _CONSUMER.match(value):
        raise InvalidRequest("consumer: expected 1-64 of A-Z a-z 0-9 _ . -")
    return f"cursor:agent:{principal.id}:{value}"
