"""The REST door: `GET /v1/tools`, `POST /v1/tools/{name}:call` and `GET /v1/openapi.json`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from cachetools import LRUCache
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pasarela import jsonsafe
from pasarela.catalog.discovery import META_TOOLS, SEARCH_TOOLS
from pasarela.catalog.formats import render
from pasarela.catalog.spec import ToolSpec
from pasarela.errors import InvalidRequest, PasarelaError
from pasarela.identity import Principal
from pasarela.pipeline import Door
from pasarela.secrets import Redactor
from pasarela.server.arguments import check_arguments, idempotency_key
from pasarela.server.disconnect import unless_disconnected
from pasarela.server.live import LiveRuntime
from pasarela.server.middleware import principal_of, request_id_of
from pasarela.server.openapi import openapi_document
from pasarela.server.problems import problem_response
from pasarela.telemetry.correlation import current_trace_id

REST_FORMATS = ("native", "openai", "anthropic", "gemini")
# (request, tool, arguments, idempotency key) → the 202 that answers with a job
StartJob = Callable[[Request, str, dict[str, Any], str | None], Awaitable[Response]]
OPENAPI_CACHE_BYTES = 32 * 1024 * 1024
CLIENT_CLOSED_REQUEST = 499  # nginx's name for an answer no one waits for
# 19 digits in a row may be an integer beyond 64 bits, which orjson would turn into a float.
_LONG_DIGITS = re.compile(rb"\d{19}")


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(jsonsafe.dumps(payload), status_code=status, media_type="application/json")


class RestDoor:
    def __init__(
        self, live: LiveRuntime, redactor: Redactor, *, max_depth: int, as_job: StartJob | None = None
    ) -> None:
        self.live = live
        self.redactor = redactor
        self.max_depth = max_depth  # the body's size is bounded before it gets here (body_limit.py)
        self.as_job = as_job  # how a tool that always runs as a job (`execution: async`) is answered
        # Descriptions already built, by what they depend on (a big catalog's takes ~0.3 ms a
        # tool to build), up to 32 MB of them.
        self._documents: LRUCache[tuple[Any, ...], bytes] = LRUCache(
            maxsize=OPENAPI_CACHE_BYTES, getsizeof=len
        )
        self._documents_of: Any = None  # the gateway they describe (a reload clears them)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/tools", self.list_tools, methods=["GET"]),
            Route("/v1/tools/{name}:call", self.call_tool, methods=["POST"]),
            Route("/v1/openapi.json", self.openapi, methods=["GET"]),
        ]

    async def list_tools(self, request: Request) -> Response:
        request_id = request_id_of(request.scope)
        fmt = request.query_params.get("format", "native")
        if fmt not in REST_FORMATS:
            error = InvalidRequest(f"unknown format {fmt!r}: expected one of {', '.join(REST_FORMATS)}")
            return problem_response(error, self.redactor, request_id=request_id)
        return json_response({"tools": render(self.listed(principal_of(request.scope)), fmt)})

    def listed(self, principal: Principal) -> list[ToolSpec]:
        """The tools `principal` is shown: all it may call, or in discovery mode (tool_search:)
        search_tools, call_tool and the always-visible ones."""
        runtime = self.live.runtime
        visible = runtime.gateway.tools_for(principal, "rest")
        discovery = runtime.discovery
        if discovery is not None and discovery.applies_to(principal):
            return discovery.listed(visible)
        return visible

    async def openapi(self, request: Request) -> Response:
        """This door as OpenAPI 3.1, with one operation per tool the caller may call."""
        only = request.query_params.get("only")
        if only not in (None, "tools"):
            error = InvalidRequest(
                f"only: unknown value {only!r}: expected `tools` (the tool operations alone)"
            )
            return problem_response(error, self.redactor, request_id=request_id_of(request.scope))
        gateway = self.live.runtime.gateway
        if gateway is not self._documents_of:
            self._documents.clear()
            self._documents_of = gateway
        tools = self.listed(principal_of(request.scope))
        server_url = str(request.base_url).rstrip("/")
        key = (server_url, only, *(tool.name for tool in tools))
        body = self._documents.get(key)
        if body is None:
            document = openapi_document(
                tools,
                server_url=server_url,
                execution_of=lambda name: "sync" if name in META_TOOLS else gateway.plan_of(name).execution,
                tools_only=only == "tools",
            )
            body = jsonsafe.dumps(document)
            if len(body) <= OPENAPI_CACHE_BYTES // 4:  # a bigger one would push out all the others
                self._documents[key] = body
        return Response(body, media_type="application/json")

    async def call_tool(self, request: Request) -> Response:
        request_id = request_id_of(request.scope)
        started = time.perf_counter()
        name = request.path_params["name"]
        try:
            key = idempotency_key(request.headers.get("idempotency-key"), source="the Idempotency-Key header")
            arguments = await self.arguments(request, name)
            discovery = self.live.runtime.discovery
            principal = principal_of(request.scope)
            if name in META_TOOLS and discovery is not None and discovery.applies_to(principal):
                if name == SEARCH_TOOLS:
                    found = discovery.search(
                        self.live.runtime.gateway.tools_for(principal, "rest"), arguments
                    )
                    return json_response({"result": found, "meta": {"tool": name, "request_id": request_id}})
                name, arguments = discovery.unwrap(arguments)  # call_tool: the named tool's own call
            if self.as_job is not None and self.live.runtime.gateway.plan_of(name).execution == "async":
                return await self.as_job(request, name, arguments, key)
            answered, outcome = await unless_disconnected(
                request.receive,
                lambda: self.live.runtime.gateway.call(
                    principal,
                    name,
                    arguments,
                    door=Door.REST,
                    request_id=request_id,
                    idempotency_key=key,
                ),
            )
        except PasarelaError as exc:
            return problem_response(exc, self.redactor, request_id=request_id)
        if not answered or outcome is None:
            return Response(status_code=CLIENT_CLOSED_REQUEST)  # nobody is there to read it
        meta = {
            **outcome.public_meta(),
            "tool": name,
            "request_id": request_id,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        if (trace_id := current_trace_id()) is not None:
            meta["trace_id"] = trace_id
        return json_response({"result": outcome.result, "meta": meta})

    async def arguments(self, request: Request, tool: str) -> dict[str, Any]:
        """The `{"arguments": {...}}` of a call's body, checked for what any door refuses."""
        body = await request.body()
        if not body.strip():
            return {}
        try:
            # orjson refuses lone surrogates, NaN/Infinity and 1e400, and nesting beyond 1024 levels.
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
        arguments = _arguments_of(payload)
        check_arguments(arguments, tool=tool, max_depth=self.max_depth)
        if _LONG_DIGITS.search(body) is not None:
            # orjson rounds integers beyond 64 bits to floats; the standard parser keeps them
            # exact, so they can be refused. The nesting was bounded just above.
            try:
                arguments = _arguments_of(json.loads(body))
            except ValueError as exc:  # e.g. more digits than int() converts
                raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
            check_arguments(arguments, tool=tool, max_depth=self.max_depth)
        return arguments


def _arguments_of(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidRequest('the request body must be a JSON object: {"arguments": {...}}')
    unknown = sorted(set(payload) - {"arguments"})
    if unknown:
        raise InvalidRequest(f'unknown field(s) {unknown}: expected {{"arguments": {{...}}}}')
    arguments = payload.get("arguments", {})
    if not isinstance(arguments, dict):
        raise InvalidRequest('"arguments" must be a JSON object')
    return arguments
