"""The console's stylesheet and script, shipped in the wheel (no CDN at run time)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

ASSETS = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


@cache
def asset(name: str) -> tuple[bytes, str]:
    """(content, ETag) of a packaged asset, read once."""
    content = files("pasarela.console").joinpath("static", name).read_bytes()
    return content, '"' + hashlib.sha256(content).hexdigest()[:16] + '"'


async def serve_asset(request: Request) -> Response:
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        return PlainTextResponse("not found", status_code=404)
    content, etag = asset(name)
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)
