"""The OpenAPI connector: a REST system described by Swagger 2.0 or OpenAPI 3.x."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import aiohttp
import orjson
import structlog
from yarl import URL

from pasarela.catalog.description_cache import DescriptionCache
from pasarela.catalog.spec import ToolSpec
from pasarela.config.backends import OpenApiBackend
from pasarela.connectors.base import DEFAULT_INVOCATION, Invocation, SpanTarget, UpstreamResult
from pasarela.connectors.freshness import http_freshness
from pasarela.connectors.http_session import HttpBackendConnector
from pasarela.connectors.openapi import cache as entries
from pasarela.connectors.openapi.document import Document, DocumentError, parse_document, read_source
from pasarela.connectors.openapi.follow import Follower
from pasarela.connectors.openapi.operations import Operation, OperationBuilder
from pasarela.connectors.openapi.schemas import SchemaTooDeep
from pasarela.connectors.openapi.wire import WireRequest, build_wire_request
from pasarela.connectors.openapi.yaml_fast import gc_paused
from pasarela.connectors.retry_after import parse_retry_after
from pasarela.connectors.upstream_words import in_their_words, said_in
from pasarela.errors import (
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from pasarela.secrets import Redactor

log = structlog.get_logger("pasarela.description_cache")
_TEMPLATE = re.compile(r"\{([^}]+)\}")
MAX_ERROR_BODY = 2000


class OpenApiConnector(HttpBackendConnector[OpenApiBackend]):
    def __init__(
        self,
        backend: str,
        settings: OpenApiBackend,
        *,
        base_dir: Path,
        redactor: Redactor,
        source: str,
        cache: DescriptionCache | None = None,
    ) -> None:
        super().__init__(backend, settings, base_dir=base_dir, redactor=redactor, source=source)
        self._operations: dict[str, Operation] = {}
        self._base_url = ""
        self._cache = cache

    # -- loading ---------------------------------------------------------------------------

    async def load(self) -> list[ToolSpec]:
        try:
            content, location = await read_source(self.settings.openapi, self.base_dir)
            key = (
                self._cache.key(entries.KIND, self.backend, content, entries.fingerprint())
                if self._cache
                else ""
            )
            document, pairs = self._cached(key, location) or self._convert(content, location, key)
        except DocumentError as exc:
            raise self.config_error("openapi", str(exc)) from None
        self._operations = {spec.origin: operation for spec, operation in pairs}
        self._base_url = self._resolve_base_url(document)
        self._open_http()
        return [spec for spec, _ in pairs]

    def _convert(
        self, content: bytes, location: str, key: str
    ) -> tuple[Document, list[tuple[ToolSpec, Operation]]]:
        document = parse_document(content, location)
        builder = OperationBuilder(
            document.data, self.backend, swagger2=document.swagger2, openapi_31=document.openapi_31
        )
        try:
            with gc_paused():  # thousands of schema objects, none garbage until the document goes
                pairs = builder.build_all()
        except SchemaTooDeep as exc:
            raise DocumentError(f"{location}: {exc}") from None
        except RecursionError:  # a structure deep in some other way
            raise DocumentError(f"{location} nests too deeply to convert") from None
        if self._cache is not None:
            self._cache.put(entries.KIND, self.backend, key, entries.encode(document, pairs))
        return document, pairs

    def _cached(self, key: str, location: str) -> tuple[Document, list[tuple[ToolSpec, Operation]]] | None:
        """The tools an unchanged description gave last time, without parsing it again."""
        if self._cache is None:
            return None
        try:
            with gc_paused():  # a few MB of fresh objects, as when parsing
                entry = self._cache.get(entries.KIND, self.backend, key)
                return None if entry is None else entries.decode(entry, location)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("description_cache_corrupt", backend=self.backend, error=str(exc)[:200])
            return None  # not an entry this code wrote: parse the description instead

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
            elif self._operations and all(op.server_url for op in self._operations.values()):
                return ""  # every operation names its own server
        if candidate and not candidate.startswith(("http://", "https://")):
            if document.location.startswith(("http://", "https://")):
                candidate = urljoin(document.location, candidate)
            else:
                candidate = None
        if not candidate:
            raise self.config_error(
                "base_url", "required: the description names no absolute server URL to call"
            )
        return candidate.rstrip("/")

    # -- invoking --------------------------------------------------------------------------

    def span_target(self, tool: ToolSpec) -> SpanTarget:
        """HTTP client conventions, with the path template: the real path holds argument values."""
        operation = self._operations[tool.origin]
        base = URL(self._base_url or operation.server_url or "")
        method = operation.method.upper()
        template = base.path.rstrip("/") + operation.path
        return SpanTarget(
            f"{method} {template}",
            attributes={
                "http.request.method": method,
                "url.template": template,
                "server.address": base.host or "",
                "server.port": base.port or 0,
            },
        )

    async def invoke(
        self,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        invocation: Invocation = DEFAULT_INVOCATION,
    ) -> UpstreamResult:
        operation = self._operations[tool.origin]
        base = self._base_url or (operation.server_url or "").rstrip("/")
        limit = self.time_limit(invocation)
        connect = self.connect_limit(invocation)
        started = time.monotonic()
        for attempt in (1, 2):
            wire = build_wire_request(tool.name, operation, arguments, base)
            wire.headers.update(invocation.headers)  # the call's own (e.g. trace context); auth wins
            await self._auth.apply(wire.headers, wire.query)
            status, body, headers = await self._send(tool, wire, limit, connect)
            if status == 401 and attempt == 1 and await self._auth.refresh(wire.headers):
                continue  # a fresh credential may succeed where an expired one failed
            break
        content_type = headers.get("Content-Type", "")
        if status == 202 and invocation.follow is not None:
            follower = Follower(
                invocation.follow,
                lambda url, remaining: self._get(tool, url, remaining, connect, invocation),
                backend=self.backend,
                tool=tool.name,
                base_url=base,
            )
            deadline = started + limit
            result = await follower.to_the_end(
                status, headers, _decode(body, content_type), deadline, invocation.progress
            )
            return UpstreamResult(result, 200)
        if status >= 400:
            error_body = self._error_body(body, content_type)
            said = (
                said_in(error_body)
                if not isinstance(error_body, str) or "text/plain" in content_type
                else None
            )
            raise UpstreamError(
                in_their_words(said, f"{self.backend} answered HTTP {status} to {tool.name}", self.redactor),
                backend=self.backend,
                upstream_status=status,
                retry_after=parse_retry_after(headers.get("Retry-After")) if status in (429, 503) else None,
                upstream_body=error_body,
            )
        as_of, last_modified = http_freshness(headers)
        return UpstreamResult(_decode(body, content_type), status, as_of=as_of, last_modified=last_modified)

    async def _get(
        self, tool: ToolSpec, url: str, limit: float, connect: float, invocation: Invocation
    ) -> tuple[int, Any, Mapping[str, str]]:
        """A GET of a URL the backend gave (a status or result URL), under its own credential."""
        split = urlsplit(url)
        wire = WireRequest("GET", urlunsplit((split.scheme, split.netloc, split.path, "", "")))
        wire.query = parse_qsl(split.query, keep_blank_values=True)
        wire.headers.update({k: v for k, v in invocation.headers.items() if k.lower() != "idempotency-key"})
        await self._auth.apply(wire.headers, wire.query)
        status, body, headers = await self._send(
            tool, wire, max(0.001, limit), min(connect, max(0.001, limit))
        )
        return status, _decode(body, headers.get("Content-Type", "")), headers

    async def _send(
        self, tool: ToolSpec, wire: WireRequest, limit: float, connect: float
    ) -> tuple[int, bytes, Mapping[str, str]]:
        session = self._session_or_fail()
        try:
            async with session.request(
                wire.method,
                URL(wire.full_url(), encoded=True),
                headers=wire.headers,
                data=wire.body,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=limit, connect=connect),
            ) as response:
                return response.status, await response.read(), response.headers
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"{self.backend} did not answer {tool.name} within {limit:g}s", backend=self.backend
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnavailable(f"cannot connect to {self.backend}", backend=self.backend) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                f"the connection to {self.backend} failed ({type(exc).__name__})", backend=self.backend
            ) from exc

    def _error_body(self, body: bytes, content_type: str) -> Any:
        text = self.redactor.excerpt(body, MAX_ERROR_BODY)
        if "json" in content_type:
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
        return text


def _decode(body: bytes, content_type: str) -> Any:
    if not body:
        return None
    if "json" in content_type:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return body.decode("utf-8", errors="replace")


def _expand_server(url: str, variables: Mapping[str, Any]) -> str:
    def default(match: re.Match[str]) -> str:
        variable = variables.get(match.group(1))
        return str(variable.get("default", "")) if isinstance(variable, dict) else ""

    return _TEMPLATE.sub(default, url)
