"""A deliberately fast upstream for benchmarks: raw ASGI, fixed JSON, under uvicorn/httptools."""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from starlette.types import Receive, Scope, Send

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "bench", "version": "1"},
    "paths": {
        "/things/{thing_id}": {
            "get": {
                "operationId": "get_thing",
                "parameters": [
                    {"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "ok"}},
            },
            # A write: its answer waits for its audit record's commit (audit.durability: writes).
            "put": {
                "operationId": "put_thing",
                "parameters": [
                    {"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "ok"}},
            },
        }
    },
}
BODY = orjson.dumps({"thing_id": "42", "name": "a thing", "tags": ["a", "b"], "balance": 12.5})
SPEC_BODY = orjson.dumps(SPEC)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = SPEC_BODY if scope["path"] == "/openapi.json" else BODY
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, http="httptools"
    )


if __name__ == "__main__":
    main()
