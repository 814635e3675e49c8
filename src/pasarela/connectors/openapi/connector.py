"""The OpenAPI connector: a REST system described by Swagger 2.0 or OpenAPI 3.x."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import orjson

from pasarela import __version__
from pasarela.catalog.spec import ToolSpec
from pasarela.config.model import BackendSettings
from pasarela.connectors.base import UpstreamResult
from pasarela.connectors.http_auth import build_auth
from pasarela.connectors.openapi.document import Document, DocumentError, read_document
from pasarela.connectors.openapi.operations import Operation, OperationBuilder
from pasarela.errors import (
    ArgumentProblem,
    ConfigError,
    ConfigProblem,
    InvalidArguments,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from pasarela.secrets import Redactor

_TEMPLATE = re.compile(r"\{([^}]+)\}")
_CONTROL = re.compile(r"[\r\n\x00]")
MAX_ERROR_BODY = 2000


class OpenApiConnector:
    def __init__(
        self, backend: str, settings: BackendSettings, *, base_dir: Path, redactor: Redactor, source: str
    ) -> None:
        assert settings.openapi is not None
        self.backend = backend
        self.settings = settings
        self.base_dir = base_dir
        self.redactor = redactor
        self.source = source
        self._operations: dict[str, Operation] = {}
        self._base_url = ""
        self._client: httpx.AsyncClient | None = None

    # -- loading ---------------------------------------------------------------------------

    def _problem(self, key: str, message: str) -> ConfigError:
        return ConfigError([ConfigProblem(self.source, f"backends.{self.backend}.{key}", message)])

    async def load(self) -> list[ToolSpec]:
        assert self.settings.openapi is not None
        try:
            document = await read_document(self.settings.openapi, self.base_dir)
        except DocumentError as exc:
            raise self._problem("openapi", str(exc)) from None
        builder = OperationBuilder(
            document.data, self.backend, swagger2=document.swagger2, openapi_31=document.openapi_31
        )
        pairs = builder.build_all()
        self._operations = {spec.origin: operation for spec, operation in pairs}
        self._base_url = self._resolve_base_url(document)
        self._client = self._make_client()
        return [spec for spec, _ in pairs]

    def _resolve_base_url(self, document: Document) -> str:
        if self.settings.base_url:
            return self.settings.base_url.rstrip("/")
        data = document.data
        candidate: str | None = None
        if document.swagger2 and isinstance(data.get("host"), str):
            scheme = (data.get("schemes") or ["https"])[0]
            candidate = f"{scheme}://{data['host']}{data.get('basePath', '')}"
        else:
            servers = data.get("servers")
            if isinstance(servers, list) and servers and isinstance(servers[0], dict):
                server = servers[0]
                candidate = _expand_server(str(server.get("url", "")), server.get("variables") or {})
            elif any(op.server_url for op in self._operations.values()):
                return ""  # every operation names its own server
        if candidate and not candidate.startswith(("http://", "https://")):
            if document.location.startswith(("http://", "https://")):
                candidate = urljoin(document.location, candidate)
            else:
                candidate = None
        if not candidate:
            raise self._problem("base_url", "required: the description names no absolute server URL to call")
        return candidate.rstrip("/")

    def _make_client(self) -> httpx.AsyncClient:
        settings = self.settings
        return httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(
                max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections
            ),
            auth=build_auth(settings.auth, self.backend, settings.timeout),
            headers={"User-Agent": f"pasarela/{__version__}", **settings.headers},
            follow_redirects=False,
            # No proxies or ~/.netrc credentials picked up from the environment behind the operator's back.
            trust_env=False,
        )

    # -- invoking --------------------------------------------------------------------------

    async def invoke(
        self, tool: ToolSpec, arguments: Mapping[str, Any], *, timeout: float | None = None
    ) -> UpstreamResult:
        operation = self._operations[tool.origin]
        client = self._client
        assert client is not None, "load() must run before invoke()"
        request = self._build_request(client, tool, operation, arguments)
        if timeout is not None:
            request.extensions["timeout"] = httpx.Timeout(
                timeout, connect=self.settings.connect_timeout
            ).as_dict()
        try:
            response = await client.send(request)
        except httpx.TimeoutException as exc:
            limit = timeout if timeout is not None else self.settings.timeout
            raise UpstreamTimeout(
                f"{self.backend} did not answer {tool.name} within {limit:g}s", backend=self.backend
            ) from exc
        except httpx.ConnectError as exc:
            raise UpstreamUnavailable(f"cannot connect to {self.backend}", backend=self.backend) from exc
        except httpx.LocalProtocolError as exc:
            raise InvalidArguments(
                f"the arguments for {tool.name} cannot be sent: {type(exc).__name__}"
            ) from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"the connection to {self.backend} failed ({type(exc).__name__})", backend=self.backend
            ) from exc
        if response.status_code >= 400:
            raise UpstreamError(
                f"{self.backend} answered HTTP {response.status_code} to {tool.name}",
                backend=self.backend,
                upstream_status=response.status_code,
                upstream_body=self._error_body(response),
            )
        return UpstreamResult(_decode(response), response.status_code)

    def _build_request(
        self, client: httpx.AsyncClient, tool: ToolSpec, operation: Operation, arguments: Mapping[str, Any]
    ) -> httpx.Request:
        path_values: dict[str, str] = {}
        query: list[tuple[str, str | int | float | bool | None]] = []
        headers: dict[str, str] = {}
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
                query.extend((binding.wire_name, item) for item in _query_values(value))
            elif binding.location == "header":
                text = _scalar(value)
                if _CONTROL.search(text):
                    raise InvalidArguments(
                        "header arguments may not contain line breaks or NUL",
                        [ArgumentProblem(f"/{binding.argument}", "contains a control character")],
                    )
                headers[binding.wire_name] = text
            elif binding.location == "body_field":
                fields[binding.wire_name] = value
                has_body = True
            else:
                body, has_body = value, True

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in path_values:
                raise InvalidArguments(
                    f"missing path argument {name!r} for {tool.name}",
                    [ArgumentProblem(f"/{name}", "required")],
                )
            return path_values[name]

        path = _TEMPLATE.sub(substitute, operation.path)
        base = (
            self.settings.base_url.rstrip("/")
            if self.settings.base_url
            else (operation.server_url.rstrip("/") if operation.server_url else self._base_url)
        )
        url = base + path
        content_kwargs: dict[str, Any] = {}
        if has_body:
            payload = fields if fields else body
            kind = operation.body_kind
            if kind == "json":
                content_kwargs["content"] = orjson.dumps(payload)
                headers["Content-Type"] = operation.media_type or "application/json"
            elif kind == "form":
                content_kwargs["data"] = _form_fields(payload)
            elif kind == "multipart":
                content_kwargs["files"] = [(k, (None, v)) for k, v in _form_items(payload)]
            else:
                raw = payload if isinstance(payload, str | bytes) else orjson.dumps(payload)
                content_kwargs["content"] = raw
                headers["Content-Type"] = operation.media_type or "application/octet-stream"
        # No empty `params=`: httpx would re-encode the URL for nothing (a third of the cost).
        if query:
            content_kwargs["params"] = query
        return client.build_request(operation.method, url, headers=headers, **content_kwargs)

    def _error_body(self, response: httpx.Response) -> Any:
        text = self.redactor.redact(response.text[:MAX_ERROR_BODY])
        if "json" in response.headers.get("content-type", ""):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
        return text

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def encode_path_segment(value: Any) -> str:
    """Percent-encode one path segment so it can never add, remove or climb segments."""
    text = _scalar(value)
    if text.strip(".") == "":  # ".", "..": dot-segments would be resolved away by servers
        return text.replace(".", "%2E")
    return quote(text, safe="")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _query_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [_scalar(item) for item in value]
    return [_scalar(value)]


def _form_fields(payload: Any) -> dict[str, list[str]]:
    """Form fields as httpx wants them: a mapping, lists for repeated fields."""
    fields: dict[str, list[str]] = {}
    for key, text in _form_items(payload):
        fields.setdefault(key, []).append(text)
    return fields


def _form_items(payload: Any) -> list[tuple[str, str]]:
    if not isinstance(payload, dict):
        return []
    items: list[tuple[str, str]] = []
    for key, value in payload.items():
        items.extend((key, text) for text in _query_values(value))
    return items


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return response.text
    return response.text


def _expand_server(url: str, variables: Mapping[str, Any]) -> str:
    def default(match: re.Match[str]) -> str:
        variable = variables.get(match.group(1))
        return str(variable.get("default", "")) if isinstance(variable, dict) else ""

    return _TEMPLATE.sub(default, url)
