"""The GraphQL connector: a schema (SDL file or introspection) as tools, called over HTTP.

Tools are generated per root Query and Mutation field (arguments → input schema, a default
selection of scalar fields down to `depth`) and/or declared as named operations. Arguments
always travel as GraphQL variables, never spliced into the document. A response with
`errors` and no data is an upstream error; with partial data it is served, marked
`meta.partial` with the error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
from yarl import URL

from graphql import GraphQLError, GraphQLSchema, build_client_schema, build_schema, get_introspection_query
from pasarela.catalog.spec import ToolSpec
from pasarela.config.backends import GraphQLBackend
from pasarela.connectors.base import DEFAULT_INVOCATION, Invocation, SpanTarget, UpstreamResult
from pasarela.connectors.freshness import http_freshness
from pasarela.connectors.graphql.documents import Operation, operation_tool, root_field_tool
from pasarela.connectors.http_session import HttpBackendConnector
from pasarela.connectors.upstream_words import in_their_words, said_in
from pasarela.errors import ConfigError, ConfigProblem, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from pasarela.secrets import Redactor

MAX_ERRORS = 5


class GraphQLConnector(HttpBackendConnector[GraphQLBackend]):
    def __init__(
        self, backend: str, settings: GraphQLBackend, *, base_dir: Path, redactor: Redactor, source: str
    ) -> None:
        super().__init__(backend, settings, base_dir=base_dir, redactor=redactor, source=source)
        self.url = settings.graphql
        self._operations: dict[str, Operation] = {}

    async def load(self) -> list[ToolSpec]:
        self._open_http()
        schema = await self._schema()
        specs: list[ToolSpec] = []
        problems: list[ConfigProblem] = []
        if self.settings.generate:
            for mutation, root in ((False, schema.query_type), (True, schema.mutation_type)):
                for name, field in (root.fields if root is not None else {}).items():
                    built = root_field_tool(
                        self.backend, name, field, mutation=mutation, depth=self.settings.depth
                    )
                    if built is not None:
                        specs.append(built[0])
                        self._operations[built[0].origin] = built[1]
        for name, declared in self.settings.operations.items():
            try:
                spec, operation = operation_tool(
                    schema, self.backend, name, declared.document, declared.description
                )
            except ValueError as exc:
                problems.append(self.problem(f"operations.{name}", str(exc)))
                continue
            specs.append(spec)
            self._operations[spec.origin] = operation
        if problems:
            raise ConfigError(problems)
        return specs

    async def _schema(self) -> GraphQLSchema:
        if self.settings.schema_file is not None:
            path = self.base_dir / self.settings.schema_file  # an absolute path stays as it is
            try:
                return build_schema(await anyio.Path(path).read_text(encoding="utf-8"))
            except OSError as exc:
                raise ConfigError([self.problem("schema", f"cannot read {path}: {exc.strerror}")]) from None
            except GraphQLError as exc:
                raise ConfigError(
                    [self.problem("schema", f"not a valid GraphQL schema: {exc.message}")]
                ) from None
        try:
            answer, _, _ = await self._post(
                {"query": get_introspection_query(descriptions=True)}, DEFAULT_INVOCATION
            )
        except (UpstreamError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, UpstreamError) else str(exc)
            raise ConfigError([self.problem("graphql", f"introspection failed: {detail}")]) from None
        if not isinstance(answer.get("data"), dict):
            messages = "; ".join(self._error_messages(answer)[:MAX_ERRORS]) or "the answer holds no data"
            raise ConfigError(
                [
                    self.problem(
                        "graphql",
                        f"introspection failed: {messages} (check the backend's auth; where introspection "
                        "is disabled, set `schema:` to an SDL file)",
                    )
                ]
            )
        try:
            return build_client_schema(answer["data"])
        except (KeyError, TypeError, GraphQLError) as exc:
            raise ConfigError(
                [
                    self.problem(
                        "graphql",
                        f"introspection answered no usable schema ({type(exc).__name__}); set `schema:` to an SDL file",
                    )
                ]
            ) from None

    def span_target(self, tool: ToolSpec) -> SpanTarget:
        operation = self._operations[tool.origin]
        kind = "mutation" if operation.document.lstrip().startswith("mutation") else "query"
        endpoint = URL(self.url)
        return SpanTarget(
            f"{kind} {tool.origin}",
            attributes={
                "graphql.operation.type": kind,
                "graphql.operation.name": tool.origin,
                "graphql.document": operation.document,  # arguments travel as variables, never in it
                "http.request.method": "POST",
                "server.address": endpoint.host or "",
                "server.port": endpoint.port or 0,
            },
        )

    async def _post(
        self, payload: Mapping[str, Any], invocation: Invocation
    ) -> tuple[dict[str, Any], int, tuple[float | None, float | None]]:
        """The answer, the HTTP status, and the freshness the backend's headers state."""
        limit = self.time_limit(invocation)
        headers = {
            **invocation.headers,
            "Content-Type": "application/json",
            "Accept": "application/graphql-response+json, application/json",
        }
        query: list[tuple[str, str]] = []
        await self._auth.apply(headers, query)
        try:
            async with self._session_or_fail().post(
                self.url,
                data=orjson.dumps(payload),
                headers=headers,
                params=query or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=limit, connect=self.connect_limit(invocation)),
            ) as response:
                body = await response.read()
                status = response.status
                freshness = http_freshness(response.headers)
        except TimeoutError:
            raise UpstreamTimeout(
                f"{self.backend} did not answer within {limit:g}s", backend=self.backend
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                f"cannot reach {self.backend} ({type(exc).__name__})", backend=self.backend
            ) from None
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            raise UpstreamError(
                f"{self.backend} answered HTTP {status} without a GraphQL response",
                backend=self.backend,
                upstream_status=status,
                upstream_body=self.redactor.excerpt(body, 500),
            )
        if status >= 400 and "data" not in answer and "errors" not in answer:
            raise UpstreamError(
                in_their_words(said_in(answer), f"{self.backend} answered HTTP {status}", self.redactor),
                backend=self.backend,
                upstream_status=status,
            )
        return answer, status, freshness

    def _error_messages(self, answer: Mapping[str, Any]) -> list[str]:
        """The `errors` of a GraphQL answer as text, known secrets masked."""
        return [
            self.redactor.redact(str(e.get("message", e)) if isinstance(e, dict) else str(e))
            for e in answer.get("errors") or []
        ]

    async def invoke(
        self,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        invocation: Invocation = DEFAULT_INVOCATION,
    ) -> UpstreamResult:
        operation = self._operations[tool.origin]
        answer, status, (as_of, last_modified) = await self._post(
            {"query": operation.document, "variables": dict(arguments)}, invocation
        )
        data = answer.get("data")
        errors = self._error_messages(answer)
        if operation.root_field is not None and isinstance(data, dict):
            data = data.get(operation.root_field)
        if errors and data is None:
            raise UpstreamError(
                in_their_words(
                    "; ".join(errors[:MAX_ERRORS]),
                    f"{self.backend} answered {tool.name} with errors",
                    self.redactor,
                ),
                backend=self.backend,
                graphql_errors=errors[:MAX_ERRORS],
            )
        meta = {"partial": True, "graphql_errors": errors[:MAX_ERRORS]} if errors else {}
        return UpstreamResult(data, status, meta=meta, as_of=as_of, last_modified=last_modified)
