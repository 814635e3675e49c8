"""Reading a console form: URL-encoded, small, one value per field."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

MAX_FORM_BYTES = 64 * 1024
URLENCODED = "application/x-www-form-urlencoded"


async def read_form(request: Request) -> dict[str, str] | Response:
    """The fields of a POSTed form (the last value of a repeated field), or the 4xx to answer."""
    if request.headers.get("content-type", "").split(";")[0].strip() != URLENCODED:
        return PlainTextResponse(f"expected a form ({URLENCODED})", status_code=415)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return PlainTextResponse(f"the form is larger than {MAX_FORM_BYTES} bytes", status_code=413)
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100))
    except (UnicodeDecodeError, ValueError) as exc:
        return PlainTextResponse(f"the form could not be read: {exc}", status_code=400)
