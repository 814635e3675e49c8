"""`backends:` — one model per kind of system, chosen by the key that names the kind.

An `openapi` backend accepts what an OpenAPI backend uses and nothing else: another kind's
settings (`queries` on a REST system, `ws_security` on SQL) are unknown keys, reported with the
keys that kind accepts.
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Discriminator, Field, SecretStr, Tag, field_validator, model_validator

from pasarela.config.a2a import A2aHealthSettings
from pasarela.config.base import NAME, Strict, exactly_one
from pasarela.config.durations import Duration
from pasarela.config.graphql import GraphQLOperationSettings
from pasarela.config.grpc import GrpcHealthSettings, GrpcTlsSettings, metadata_key_problem
from pasarela.config.observability import CostSettings, SloSettings
from pasarela.config.sql import SqlAnalystSettings, SqlQuerySettings
from pasarela.config.traffic import CircuitBreakerSettings, RetrySettings, check_rate


class BasicCredentials(Strict):
    username: str
    password: SecretStr


class ApiKeyCredential(Strict):
    header: str | None = None
    query: str | None = None
    value: SecretStr

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        exactly_one(self, ("header", "query"), "place for the key")
        return self


class OAuth2ClientCredentials(Strict):
    token_url: str
    client_id: str
    client_secret: SecretStr
    scopes: list[str] = []
    audience: str | None = None


class BackendAuthSettings(Strict):
    """How the gateway authenticates to a backend. Agents never see or supply this."""

    bearer: SecretStr | None = None
    basic: BasicCredentials | None = None
    api_key: ApiKeyCredential | None = None
    oauth2_client_credentials: OAuth2ClientCredentials | None = None

    @model_validator(mode="after")
    def _one_scheme(self) -> Self:
        exactly_one(self, ("bearer", "basic", "api_key", "oauth2_client_credentials"), "auth scheme")
        return self


class ToolSelectionSettings(Strict):
    include: list[str] | None = None
    exclude: list[str] = []
    rename: dict[str, Annotated[str, Field(pattern=NAME)]] = {}


class WsSecuritySettings(Strict):
    """WS-Security UsernameToken in the SOAP header."""

    username: str
    password: SecretStr
    digest: bool = Field(
        False, description="Send a password digest (with nonce and created) instead of the text"
    )


class McpStdioSettings(Strict):
    """An MCP server started as a subprocess, spoken to over its stdin/stdout."""

    command: str = Field(description="The executable, e.g. python or npx")
    args: list[str] = []
    env: dict[str, str] = Field({}, description="Extra environment for the server (use ${secret:…})")
    cwd: str | None = Field(None, description="Working directory (default: this file's directory)")


class BackendBase(Strict):
    """What every kind of backend has: time limits, traffic control and tool selection."""

    kind: ClassVar[str]

    timeout: Duration = 10.0
    connect_timeout: Duration = 5.0
    concurrency: int | None = Field(
        50, gt=0, description="Calls in flight to this backend at once (bulkhead); null = unbounded"
    )
    concurrency_wait: Duration = Field(
        1.0, description="How long a call may wait for a free slot before failing with 503 throttled"
    )
    concurrency_per_principal: int | None = Field(
        None,
        gt=0,
        description="At most this many of the slots for one principal, always (default: only its fair share "
        "of concurrency while others wait)",
    )
    rate_limit: str | None = Field(None, description="For all agents together, e.g. 500/second")
    retry: RetrySettings = RetrySettings()
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()
    tools: ToolSelectionSettings = ToolSelectionSettings()
    auto_approve_changes: bool = Field(
        False, description="Accept changed tool definitions without review (development only)"
    )
    slo: SloSettings | None = Field(None, description="Service level objectives of this backend")
    cost: CostSettings | None = Field(None, description="What a call to this backend costs")

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        return None if value is None else check_rate(value)


class HttpBackend(BackendBase):
    """Backends reached over HTTP: the gateway's own credential, fixed headers, a pool."""

    auth: BackendAuthSettings | None = None
    headers: dict[str, str] = Field({}, description="Fixed headers sent with every upstream request")
    max_connections: int = Field(100, gt=0)


class _BaseUrl(HttpBackend):
    base_url: str | None = Field(None, description="Overrides the address the description gives")

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value


class OpenApiBackend(_BaseUrl):
    kind: ClassVar[str] = "openapi"
    openapi: str = Field(description="Path or URL of a Swagger 2.0 / OpenAPI 3.x description")


class SoapBackend(_BaseUrl):
    kind: ClassVar[str] = "soap"
    soap: str = Field(description="Path or URL of a WSDL (imports and includes are followed)")
    ws_security: WsSecuritySettings | None = Field(None, description="A WS-Security UsernameToken")


class GraphQLBackend(HttpBackend):
    kind: ClassVar[str] = "graphql"
    graphql: str = Field(description="A GraphQL endpoint URL")
    schema_file: str | None = Field(
        None, alias="schema", description="An SDL file; default: ask the endpoint (introspection)"
    )
    generate: bool = Field(True, description="A tool per root Query and Mutation field")
    depth: int = Field(2, ge=1, le=5, description="Generated selections include objects this deep")
    operations: dict[Annotated[str, Field(pattern=NAME)], GraphQLOperationSettings] = Field(
        {}, description="Named operations (a document with variables), each a tool"
    )


class McpBackend(HttpBackend):
    kind: ClassVar[str] = "mcp"
    mcp: str | McpStdioSettings = Field(
        description="An upstream MCP server: its Streamable HTTP URL, or {command, args} for stdio"
    )
    prefix: str | None = Field(
        None, description="Prepended to every upstream tool name (default: the backend's name and _)"
    )
    protocol: Literal["auto", "2025-11-25", "2026-07-28"] = Field(
        "auto",
        description="The MCP protocol version spoken to the upstream: auto (ask it with server/discover, "
        "else the initialize handshake), 2025-11-25 (the handshake) or 2026-07-28",
    )

    @field_validator("protocol", mode="before")
    @classmethod
    def _version_as_written(cls, value: Any) -> Any:
        """YAML reads an unquoted 2025-11-25 as a date: take it as the version it was meant to be."""
        return value.isoformat() if isinstance(value, datetime.date) else value

    relay_logs: bool = Field(
        True,
        description="Pass the upstream's log messages during a call on to the calling agent's MCP session "
        "(at or above the level it asked for)",
    )
    allow_sampling: bool = Field(
        False,
        description="Let the upstream ask the calling agent's client for an LLM completion "
        '(sampling/createMessage) during a call; policy decides too (Action::"sample")',
    )
    allow_elicitation: bool = Field(
        False,
        description="Let the upstream ask the calling agent's user for input (elicitation/create) during a "
        'call; policy decides too (Action::"elicit")',
    )


class SqlBackend(BackendBase):
    kind: ClassVar[str] = "sql"
    sql: str = Field(
        description="Database URL: sqlite:///file.db, postgresql://…, mysql://… (use ${secret:…} for passwords)",
    )
    queries: dict[Annotated[str, Field(pattern=NAME)], SqlQuerySettings] = Field(
        {}, description="Named queries, each a tool"
    )
    analyst: SqlAnalystSettings | None = Field(None, description="An optional SELECT-only query tool")
    read_only: bool = Field(True, description="Queries are read-only unless they say otherwise")
    max_rows: int = Field(500, gt=0, description="At most this many rows per result")
    max_connections: int = Field(100, gt=0)


class GrpcBackend(BackendBase):
    """A gRPC server; its services from server reflection, descriptor sets or .proto files."""

    kind: ClassVar[str] = "grpc"
    grpc: str = Field(description="The server: host:port, dns:///host:port, unix:/path …")
    reflection: bool | None = Field(
        None, description="Learn the services from server reflection (default when no files are given)"
    )
    descriptor_sets: list[str] = Field(
        [], description="FileDescriptorSet files (.binpb/.pb, protoc --descriptor_set_out --include_imports)"
    )
    protos: list[str] = Field([], description=".proto files, compiled when the gateway loads (grpcio-tools)")
    include_paths: list[str] = Field(
        [], description="Where imports of the .proto files are found (default: each file's directory)"
    )
    auth: BackendAuthSettings | None = Field(
        None, description="The gateway's credential, sent as metadata: bearer, basic or a header api_key"
    )
    metadata: dict[str, str] = Field({}, description="Fixed metadata sent with every call")
    tls: GrpcTlsSettings | None = Field(
        None, description="TLS (mutual with a client certificate); default: plaintext"
    )
    max_messages: int = Field(
        100, gt=0, le=100_000, description="Server-streaming tools collect at most this many messages"
    )
    max_message_bytes: int = Field(
        4 * 1024 * 1024, gt=0, description="The largest message accepted from the server"
    )
    health_check: GrpcHealthSettings = Field(
        GrpcHealthSettings(), description="The standard health service, reported on /readyz"
    )

    @field_validator("grpc")
    @classmethod
    def _target(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a gRPC target such as host:port")
        if value.startswith(("http://", "https://", "grpc://", "grpcs://")):
            raise ValueError(
                f"a gRPC target is host:port (or dns:///host:port), not a URL: {value!r}; use `tls:` for TLS"
            )
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if (problem := metadata_key_problem(key)) is not None:
                raise ValueError(problem)
            if not (text.isascii() and text.isprintable()):
                raise ValueError(f"the value of {key!r} must be printable ASCII (gRPC metadata)")
        return {key.lower(): text for key, text in value.items()}

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: BackendAuthSettings | None) -> BackendAuthSettings | None:
        if value is None:
            return None
        if value.oauth2_client_credentials is not None or (value.api_key and value.api_key.header is None):
            raise ValueError("gRPC backends take bearer, basic or a header api_key (sent as metadata)")
        header = value.api_key.header if value.api_key is not None else None
        if header is not None and (problem := metadata_key_problem(header)) is not None:
            raise ValueError(f"api_key.header: {problem}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        files = [key for key in ("descriptor_sets", "protos") if getattr(self, key)]
        if len(files) > 1:
            raise ValueError("give descriptor_sets or protos, not both")
        if self.reflection and files:
            raise ValueError(f"reflection: true and {files[0]} both describe the services; choose one")
        if self.reflection is False and not files:
            raise ValueError("without reflection, give descriptor_sets or protos")
        if self.include_paths and not self.protos:
            raise ValueError("include_paths are for protos")
        return self


class A2aBackend(_BaseUrl):
    """A remote agent (Agent2Agent protocol), described by its agent card; one tool that asks it."""

    kind: ClassVar[str] = "a2a"
    a2a: str = Field(
        description="The agent card: the agent's URL (its card at /.well-known/agent-card.json), "
        "the card's own URL, or a file"
    )
    tool: Annotated[str, Field(pattern=NAME)] | None = Field(
        None, description="The tool's name (default: ask_ and the backend's name)"
    )
    streaming: bool | None = Field(
        None, description="Follow a task by its event stream (default: when the card says the agent streams)"
    )
    poll_interval: Duration = Field(
        1.0, gt=0, le=60, description="Without streaming: how often a task's state is asked (tasks/get)"
    )
    max_message_length: int = Field(
        20_000, gt=0, le=1_000_000, description="The longest `message` an agent may send (characters)"
    )
    health_check: A2aHealthSettings = Field(
        A2aHealthSettings(), description="Fetch the agent card when /readyz is asked"
    )

    @field_validator("a2a")
    @classmethod
    def _card(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected the agent's URL, its agent card's URL or a card file")
        if "://" in value and not re.match(r"^https?://", value):
            raise ValueError(f"an agent card is fetched over http:// or https://, got {value!r}")
        return value

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: BackendAuthSettings | None) -> BackendAuthSettings | None:
        if value is not None and (
            value.oauth2_client_credentials is not None or (value.api_key and value.api_key.header is None)
        ):
            raise ValueError("A2A backends take bearer, basic or a header api_key")
        return value


class PythonBackend(BackendBase):
    kind: ClassVar[str] = "python"
    python: str = Field(description="`package.module` or `package.module:attr` holding @tool functions")


BACKEND_MODELS: dict[str, type[BackendBase]] = {
    model.kind: model
    for model in (
        OpenApiBackend,
        PythonBackend,
        SqlBackend,
        McpBackend,
        GraphQLBackend,
        SoapBackend,
        GrpcBackend,
        A2aBackend,
    )
}
BACKEND_KINDS = tuple(BACKEND_MODELS)


def kind_of(value: Any) -> str | None:
    """The kind a backend's settings declare: the one kind key present (None: none or several)."""
    if isinstance(value, BackendBase):
        return value.kind
    if not isinstance(value, dict):
        return None
    present = [kind for kind in BACKEND_KINDS if kind in value]
    return present[0] if len(present) == 1 else None


BackendSettings = Annotated[
    Annotated[OpenApiBackend, Tag("openapi")]
    | Annotated[PythonBackend, Tag("python")]
    | Annotated[SqlBackend, Tag("sql")]
    | Annotated[McpBackend, Tag("mcp")]
    | Annotated[GraphQLBackend, Tag("graphql")]
    | Annotated[SoapBackend, Tag("soap")]
    | Annotated[GrpcBackend, Tag("grpc")]
    | Annotated[A2aBackend, Tag("a2a")],
    Discriminator(
        kind_of,
        custom_error_type="backend_kind",
        custom_error_message=f"a backend needs exactly one kind key: {' | '.join(BACKEND_KINDS)}",
    ),
]
