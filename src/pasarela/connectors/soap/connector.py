"""The SOAP connector: a WSDL (SOAP 1.1 or 1.2, document/literal or rpc) as tools, via zeep.

zeep is synchronous (requests), so loading the WSDL and each call run in worker threads; a
legacy system's latency dwarfs the hand-off. Each operation becomes a tool whose input
schema comes from the XSD; results become JSON; SOAP faults become upstream errors naming
the fault code. Credentials: HTTP basic/bearer/header from `auth`, or a WS-Security
UsernameToken from `ws_security`.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio.to_thread
import requests
import zeep
import zeep.exceptions
from lxml import etree
from yarl import URL
from zeep.helpers import serialize_object
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.config.backends import SoapBackend
from pasarela.connectors.backend import BackendConnector
from pasarela.connectors.base import DEFAULT_INVOCATION, Invocation, SpanTarget, UpstreamResult
from pasarela.connectors.freshness import http_freshness
from pasarela.connectors.http_auth import static_headers
from pasarela.connectors.soap.schemas import Facets, documentation, facets, schema_documents, type_schema
from pasarela.connectors.upstream_words import in_their_words
from pasarela.errors import ConfigError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from pasarela.secrets import Redactor


@dataclass(frozen=True, slots=True)
class _Target:
    service: str
    port: str
    operation: str
    # zeep hands back the only child of a one-element response by itself; the tool's output
    # schema describes the response element, so the result is wrapped back under this name.
    only_child: str | None = None


class _Transport(Transport):
    """zeep's transport, keeping the last response's headers of each thread (for `Date`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen = threading.local()

    def post(self, address: str, message: Any, headers: Any) -> Any:
        response = super().post(address, message, headers)
        self.seen.headers = response.headers
        return response


class SoapConnector(BackendConnector[SoapBackend]):
    def __init__(
        self, backend: str, settings: SoapBackend, *, base_dir: Path, redactor: Redactor, source: str
    ) -> None:
        super().__init__(backend, settings, base_dir=base_dir, redactor=redactor, source=source)
        self._client: zeep.Client | None = None
        self._targets: dict[str, _Target] = {}
        self._bound: dict[tuple[str, str], Any] = {}

    def _location(self) -> str:
        location = self.settings.soap
        if location.startswith(("http://", "https://")):
            return location
        path = Path(location).expanduser()
        return str(path if path.is_absolute() else self.base_dir / path)

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxies or netrc credentials picked up behind the operator's back
        session.headers.update({"User-Agent": "pasarela", **self.settings.headers, **self._auth_headers()})
        return session

    def _auth_headers(self) -> dict[str, str]:
        headers = static_headers(self.settings.auth)
        if headers is None:
            raise self.config_error(
                "auth", "SOAP backends take bearer, basic or a header api_key (or ws_security)"
            )
        return headers

    def _build(self) -> tuple[zeep.Client, list[etree._Element]]:
        transport = _Transport(
            session=self._session(),
            timeout=self.settings.connect_timeout,
            operation_timeout=self.settings.timeout,
        )
        wsse = None
        if self.settings.ws_security is not None:
            token = self.settings.ws_security
            wsse = UsernameToken(token.username, token.password.get_secret_value(), use_digest=token.digest)
        client = zeep.Client(self._location(), transport=transport, wsse=wsse)
        return client, schema_documents(self._location(), transport.load)

    async def load(self) -> list[ToolSpec]:
        try:
            client, documents = await anyio.to_thread.run_sync(self._build)
        except ConfigError:
            raise
        except RecursionError:
            raise self.config_error(
                "soap", "cannot load the WSDL: its types nest too deeply for zeep"
            ) from None
        except (OSError, requests.RequestException, zeep.exceptions.Error, ValueError) as exc:
            message = self.redactor.excerpt(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 300)
            raise self.config_error(
                "soap", f"cannot load the WSDL: {type(exc).__name__}: {message}"
            ) from None
        self._client = client
        restrictions = facets(documents)
        docs = documentation(documents)
        specs: list[ToolSpec] = []
        names: set[str] = set()
        for service in client.wsdl.services.values():
            for port in service.ports.values():
                for op_name, operation in port.binding._operations.items():
                    name = op_name if op_name not in names else f"{port.name}_{op_name}"
                    names.add(name)
                    self._targets[name] = _Target(service.name, port.name, op_name, _only_child(operation))
                    specs.append(self._spec(name, operation, restrictions, docs.get(op_name)))
        return specs

    def _spec(self, name: str, operation: Any, restrictions: Facets, documented: str | None) -> ToolSpec:
        input_schema = (
            type_schema(operation.input.body.type, restrictions) if operation.input.body is not None else {}
        )
        input_schema = {"type": "object", "properties": {}, **input_schema, "additionalProperties": False}
        output = (
            type_schema(operation.output.body.type, restrictions)
            if operation.output and operation.output.body is not None
            else None
        )
        read_only = name.lower().startswith(("get", "list", "find", "search", "query", "read", "check"))
        return ToolSpec(
            name=name,
            description=documented or operation.name,
            input_schema=input_schema,
            backend=self.backend,
            origin=name,
            output_schema=output if output else None,
            # WSDL says nothing about side effects; a name that reads is a hint, nothing more.
            annotations=ToolAnnotations(
                read_only=read_only, destructive=False, idempotent=read_only, open_world=True
            ),
            tags=("soap",),
        )

    def _service(self, target: _Target) -> Any:
        assert self._client is not None, "load() must run before invoke()"
        key = (target.service, target.port)
        if key not in self._bound:
            service = self._client.bind(target.service, target.port)
            if self.settings.base_url:
                binding = self._client.wsdl.services[target.service].ports[target.port].binding
                service = self._client.create_service(binding.name, self.settings.base_url)
            self._bound[key] = service
        return self._bound[key]

    def span_target(self, tool: ToolSpec) -> SpanTarget:
        target = self._targets[tool.origin]
        attributes: dict[str, str | int | bool] = {
            "rpc.system": "soap",
            "rpc.service": target.service,
            "rpc.method": target.operation,
        }
        location = self.settings.base_url or self.settings.soap
        if location.startswith(("http://", "https://")):
            url = URL(location)
            attributes |= {"server.address": url.host or "", "server.port": url.port or 0}
        return SpanTarget(f"{target.service}/{target.operation}", attributes=attributes)

    async def invoke(
        self,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        invocation: Invocation = DEFAULT_INVOCATION,
    ) -> UpstreamResult:
        target = self._targets[tool.origin]
        limit = self.time_limit(invocation)
        extra = dict(invocation.headers) or None  # the trace context; zeep keeps settings per thread

        def call() -> tuple[Any, tuple[float | None, float | None]]:
            service = self._service(target)
            client = self._client
            assert client is not None
            transport = client.transport
            with client.settings(raw_response=False, extra_http_headers=extra):
                answer = getattr(service, target.operation)(**dict(arguments))
            seen = getattr(getattr(transport, "seen", None), "headers", None)
            return answer, http_freshness(seen) if seen is not None else (None, None)

        try:
            with anyio.fail_after(limit):
                result, (as_of, last_modified) = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        except TimeoutError:
            raise UpstreamTimeout(
                f"{self.backend} did not answer {tool.name} within {limit:g}s", backend=self.backend
            ) from None
        except zeep.exceptions.Fault as fault:
            raise UpstreamError(
                in_their_words(
                    str(fault.message or "").strip(),
                    f"{self.backend} answered {tool.name} with a SOAP fault: {fault.code}",
                    self.redactor,
                ),
                backend=self.backend,
                upstream_status=500,
                fault_code=str(fault.code),
                upstream_body=self.redactor.excerpt(str(fault.message or ""), 2000),
            ) from None
        except zeep.exceptions.TransportError as exc:
            raise UpstreamError(
                f"{self.backend} answered HTTP {exc.status_code} to {tool.name}",
                backend=self.backend,
                upstream_status=exc.status_code,
            ) from None
        except requests.Timeout:
            raise UpstreamTimeout(
                f"{self.backend} did not answer {tool.name} within {limit:g}s", backend=self.backend
            ) from None
        except requests.ConnectionError:
            raise UpstreamUnavailable(f"cannot connect to {self.backend}", backend=self.backend) from None
        except (zeep.exceptions.Error, requests.RequestException) as exc:
            raise UpstreamError(
                f"{self.backend} failed {tool.name}: {type(exc).__name__}", backend=self.backend
            ) from None
        data = _jsonable(serialize_object(result, dict))
        if target.only_child is not None and not (isinstance(data, dict) and target.only_child in data):
            data = {target.only_child: data}
        return UpstreamResult(data, as_of=as_of, last_modified=last_modified)

    async def aclose(self) -> None:
        if self._client is not None:
            self._client.transport.session.close()
            self._client = None


def _only_child(operation: Any) -> str | None:
    body = operation.output.body if operation.output is not None else None
    elements = getattr(getattr(body, "type", None), "elements", None) or []
    return elements[0][0] if len(elements) == 1 else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
