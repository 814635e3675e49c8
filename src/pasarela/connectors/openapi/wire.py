"""From validated arguments to exactly what goes on the wire: URL, query, headers, body.

Everything is encoded here, once, by us: the HTTP client sends the URL as given
(`encoded=True`), so no library can re-interpret an argument as path structure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from pasarela.connectors.openapi.operations import Operation
from pasarela.errors import ArgumentProblem, InvalidArguments

_TEMPLATE = re.compile(r"\{([^}]+)\}")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # as operations.FIELD_VALUE


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")  # a lone surrogate cannot be
    except UnicodeEncodeError:
        return False
    return True


@dataclass(slots=True)
class WireRequest:
    method: str
    url: str  # base URL and percent-encoded path, no query
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | aiohttp.FormData | None = None

    def full_url(self) -> str:
        if not self.query:
            return self.url
        return f"{self.url}?{urlencode(self.query, quote_via=quote)}"


def encode_path_segment(value: Any) -> str:
    """Percent-encode one path segment so it can never add, remove or climb segments."""
    text = scalar(value)
    if text.strip(".") == "":  # ".", "..": dot-segments would be resolved away by servers
        return text.replace(".", "%2E")
    return quote(text, safe="")


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [scalar(item) for item in value]
    return [scalar(value)]


def _form_items(payload: Any) -> list[tuple[str, str]]:
    if not isinstance(payload, dict):
        return []
    return [(key, text) for key, value in payload.items() for text in _values(value)]


def build_wire_request(
    tool: str, operation: Operation, arguments: Mapping[str, Any], base_url: str
) -> WireRequest:
    path_values: dict[str, str] = {}
    request = WireRequest(operation.method, "")
    fields: dict[str, Any] = {}
    body: Any = None
    has_body = False
    for binding in operation.bindings:
        if binding.argument not in arguments:
            continue
        value = arguments[binding.argument]
        if binding.location == "path":
            path_values[binding.wire_name] = encode_path_segment(value)
        elif binding.location == "query":
            request.query.extend((binding.wire_name, item) for item in _values(value))
        elif binding.location == "header":
            text = scalar(value)
            # The schema's pattern refuses these first; this keeps aiohttp from ever raising.
            if _CONTROL.search(text) or not _encodable(text):
                raise InvalidArguments(
                    f"header argument {binding.argument!r} is not a valid HTTP field value",
                    [ArgumentProblem(f"/{binding.argument}", "contains a control character")],
                )
            request.headers[binding.wire_name] = text
        elif binding.location == "body_field":
            fields[binding.wire_name] = value
            has_body = True
        else:
            body, has_body = value, True

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in path_values:
            raise InvalidArguments(
                f"missing path argument {name!r} for {tool}", [ArgumentProblem(f"/{name}", "required")]
            )
        return path_values[name]

    request.url = base_url + _TEMPLATE.sub(substitute, operation.path)
    if has_body:
        _encode_body(request, operation, fields if fields else body)
    return request


def _encode_body(request: WireRequest, operation: Operation, payload: Any) -> None:
    kind = operation.body_kind
    if kind == "json":
        request.body = orjson.dumps(payload)
        request.headers["Content-Type"] = operation.media_type or "application/json"
    elif kind == "form":
        request.body = urlencode(_form_items(payload)).encode()
        request.headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif kind == "multipart":
        form = aiohttp.FormData(default_to_multipart=True)
        for key, text in _form_items(payload):
            form.add_field(key, text)
        request.body = form
    else:
        request.body = (
            payload.encode()
            if isinstance(payload, str)
            else (payload if isinstance(payload, bytes) else orjson.dumps(payload))
        )
        request.headers["Content-Type"] = operation.media_type or "application/octet-stream"
