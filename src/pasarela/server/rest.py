"""The REST door: `GET /v1/tools` and `POST /v1/tools/{name}:call`."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pasarela import jsonsafe
from pasarela.catalog.formats import render
from pasarela.errors import InvalidRequest, PasarelaError
from pasarela.secrets import Redactor
from pasarela.server.live import LiveRuntime
from pasarela.server.middleware import principal_of, request_id_of
from pasarela.server.problems import problem_response

REST_FORMATS = ("native", "openai", "anthropic")


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(jsonsafe.dumps(payload), status_code=status, media_type="application/json")


class RestDoor:
    def __init__(self, live: LiveRuntime, redactor: Redactor, *, max_body_bytes: int) -> None:
        self.live = live
        self.redactor = redactor
        self.max_body_bytes = max_body_bytes

    def routes(self) -> list[Route]:
        return [
            Route("/v1/tools", self.list_tools, methods=["GET"]),
            Route("/v1/tools/{name}:call", self.call_tool, methods=["POST"]),
        ]

    async def list_tools(self, request: Request) -> Response:
        request_id = request_id_of(request.scope)
        fmt = request.query_params.get("format", "native")
        if fmt not in REST_FORMATS:
            error = InvalidRequest(f"unknown format {fmt!r}: expected one of {', '.join(REST_FORMATS)}")
            return problem_response(error, self.redactor, request_id=request_id)
        tools = self.live.runtime.gateway.tools_for(principal_of(request.scope), "rest")
        return json_response({"tools": render(tools, fmt)})

    async def call_tool(self, request: Request) -> Response:
        request_id = request_id_of(request.scope)
        started = time.perf_counter()
        name = request.path_params["name"]
        try:
            arguments = await self._arguments(request)
            outcome = await self.live.runtime.gateway.call(
                principal_of(request.scope),
                name,
                arguments,
                door="rest",
                request_id=request_id,
                idempotency_key=request.headers.get("idempotency-key"),
            )
        except PasarelaError as exc:
            return problem_response(exc, self.redactor, request_id=request_id)
        meta = {
            **outcome.meta,
            "tool": name,
            "request_id": request_id,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        return json_response({"result": outcome.result, "meta": meta})

    async def _arguments(self, request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise InvalidRequest(f"the request body is larger than {self.max_body_bytes} bytes")
        body = await request.body()
        if len(body) > self.max_body_bytes:
            raise InvalidRequest(f"the request body is larger than {self.max_body_bytes} bytes")
        if not body.strip():
            return {}
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise InvalidRequest('the request body must be a JSON object: {"arguments": {...}}')
        unknown = sorted(set(payload) - {"arguments"})
        if unknown:
            raise InvalidRequest(f'unknown field(s) {unknown}: expected {{"arguments": {{...}}}}')
        arguments = payload.get("arguments", {})
        if not isinstance(arguments, dict):
            raise InvalidRequest('"arguments" must be a JSON object')
        return arguments
