"""The shape of pasarela.yaml. Unknown keys are errors; every section has safe defaults."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from pasarela.config.backends import BackendSettings
from pasarela.config.base import NAME, Strict, exactly_one
from pasarela.config.composites import CompositeSettings
from pasarela.config.console import ConsoleSettings
from pasarela.config.content import PromptSettings, ResourceSettings
from pasarela.config.durations import Duration
from pasarela.config.events import EventsSettings
from pasarela.config.jobs import Execution, FollowSettings, JobsSettings, ToolJobSettings
from pasarela.config.observability import BudgetRule, CostSettings, SloSettings, TelemetrySettings
from pasarela.config.tool_search import ToolSearchSettings
from pasarela.config.traffic import (
    CacheSettings,
    CacheStoreSettings,
    IdempotencySettings,
    McpSessionSettings,
    QuotaRule,
    RateLimitRule,
    check_rate,
)
from pasarela.config.webhooks import WebhooksSettings

SCHEMA_NAME = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}@[0-9]{1,6}$"  # customer@2
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
STATE_SCHEMES = ("sqlite", "postgresql")
SHARED_SCHEMES = ("memory", "redis", "rediss")


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Host headers accepted on /mcp (DNS-rebinding protection); defaults depend on `host`.
    allowed_hosts: list[str] | None = None
    max_request_bytes: int = Field(4 * 1024 * 1024, gt=0)
    mcp_sessions: McpSessionSettings = McpSessionSettings()
    # Deeper arguments are refused at the door; capped well below what later stages can walk.
    max_nesting_depth: int = Field(64, ge=1, le=200)
    mcp_page_size: int = Field(
        500,
        ge=1,
        le=100_000,
        description="Items per page of MCP lists (tools/list …); clients follow nextCursor for the rest",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Processes serving the port (one per core); more than one needs shared: redis://",
    )


class EnvSecretsSettings(Strict):
    prefix: str = "PASARELA_SECRET_"


class FileSecretsSettings(Strict):
    dir: str


class VaultSecretsSettings(Strict):
    """HashiCorp Vault, KV version 2: the keys of one secret are the names `${secret:…}` uses."""

    url: str = Field(description="e.g. https://vault.bank.internal:8200")
    mount: str = Field("secret", description="Where the KV v2 engine is mounted")
    path: str = Field(description="The secret holding the gateway's secrets, e.g. pasarela/prod")
    token_env: str | None = Field("VAULT_TOKEN", description="Environment variable holding the token")
    token_file: str | None = Field(None, description="... or a file holding it (e.g. a Vault agent sink)")
    namespace: str | None = Field(None, description="Vault Enterprise namespace")
    ca_cert: str | None = Field(None, description="CA bundle for Vault's TLS certificate")
    timeout: Duration = 5.0

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value


class SecretSourceSettings(Strict):
    env: EnvSecretsSettings | None = None
    file: FileSecretsSettings | None = None
    vault: VaultSecretsSettings | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        exactly_one(self, ("env", "file", "vault"), "secret provider")
        return self


AttributeValue = str | int | float | bool


class ApiKeySettings(Strict):
    principal: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@:-]{1,128}$")]
    key_sha256: str | None = None
    key: SecretStr | None = None
    roles: list[str] = []
    attributes: dict[str, AttributeValue] = {}

    @field_validator("key_sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not _HEX_SHA256.match(value.lower()):
            raise ValueError("expected 64 hexadecimal characters (the SHA-256 of the key)")
        return value.lower() if value else value

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        exactly_one(self, ("key_sha256", "key"), "way to give the key")
        return self


ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class JwtSettings(Strict):
    """Bearer JWTs from an OpenID Connect provider, checked against its JWKS."""

    issuer: str = Field(description="Exact `iss` the tokens must carry")
    audience: str = Field(description="`aud` the tokens must carry: Pasarela's own, never a backend's")
    jwks_url: str = Field(description="Where the provider publishes its signing keys")
    algorithms: list[str] = Field(
        ["RS256", "ES256"], description="Accepted signature algorithms (asymmetric only)"
    )
    principal_claim: str = Field("sub", description="The claim that names the principal")
    roles_claim: str | None = Field(
        "roles", description="Claim holding a list of roles (dotted path allowed)"
    )
    attributes: dict[str, str] = Field({}, description="Principal attribute → claim (dotted path allowed)")
    leeway: Duration = Field(30.0, description="Clock skew tolerated on exp/nbf/iat")
    jwks_cache: Duration = Field(600.0, description="How long fetched keys are trusted before refetching")
    jwks_refetch_interval: Duration = Field(
        30.0, description="At most one refetch per this interval for an unknown key id"
    )

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        wrong = [a for a in value if a not in ASYMMETRIC_ALGORITHMS]
        if wrong or not value:
            raise ValueError(
                f"only asymmetric algorithms verify against a JWKS ({', '.join(ASYMMETRIC_ALGORITHMS)}); got {wrong or value}"
            )
        return value

    @field_validator("jwks_url", "issuer")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value


class OnBehalfOfSettings(Strict):
    """An agent may present the end user's own token; it is verified, then reaches policy and logs."""

    header: str = Field("X-On-Behalf-Of", description="The header carrying the user's bearer token")
    jwt: JwtSettings = Field(description="How the users' tokens are verified (their identity provider)")


class IdentitySettings(Strict):
    api_keys: list[ApiKeySettings] = []
    jwt: JwtSettings | None = None
    on_behalf_of: OnBehalfOfSettings | None = None

    @model_validator(mode="after")
    def _unique_principals(self) -> Self:
        seen: set[str] = set()
        for entry in self.api_keys:
            if entry.principal in seen:
                raise ValueError(f"principal {entry.principal!r} is listed twice")
            seen.add(entry.principal)
        return self


class RedactSettings(Strict):
    fields: list[str] = Field([], description="Field names masked wherever they appear in the result")
    paths: list[str] = Field([], description="Paths masked in the result, e.g. accounts[*].iban")
    keep_last: int = Field(0, ge=0, le=8, description="Keep this many trailing characters (****1234)")


class AuditSettings(Strict):
    enabled: bool = True
    flush_interval: Duration = Field(0.2, description="Queued records are written at least this often")
    batch_size: int = Field(500, gt=0, description="... or as soon as this many are queued")
    checkpoint_key: SecretStr | None = Field(
        None, description="HMAC key for signed checkpoints (detect truncation); use ${secret:…}"
    )
    checkpoint_every: int = Field(1000, gt=0, description="Sign a checkpoint after this many records")
    checkpoint_interval: Duration = Field(
        1.0,
        gt=0,
        description="... or after this long, if records were added: the longest stretch of the trail "
        "that no signed checkpoint covers",
    )
    anchor_file: str | None = Field(
        None,
        description="Append every signed checkpoint to this file (relative to the config), outside the "
        "database: `audit verify` then detects truncation, wiping and rewriting. Needs checkpoint_key",
    )
    durability: Literal["writes", "all", "none"] = Field(
        "writes",
        description="Which calls answer only once their record is committed (group commit): tools that "
        "may change data (writes), every call (all), or none (a crash may lose the last flush_interval)",
    )
    commit_timeout: Duration = Field(
        5.0, gt=0, description="How long an answer waits for its record to be committed before a 503"
    )
    when_unavailable: Literal["refuse_writes", "refuse_all", "serve"] = Field(
        "refuse_writes",
        description="While the trail cannot be written: refuse calls to tools that may change data "
        "(refuse_writes), refuse every call (refuse_all), or serve and queue the records (serve)",
    )
    drain_timeout: Duration = Field(
        10.0, ge=0, description="At shutdown, keep retrying to write the queued records this long"
    )

    @model_validator(mode="after")
    def _anchors_need_a_key(self) -> Self:
        if self.anchor_file is not None and self.checkpoint_key is None:
            raise ValueError("anchor_file needs checkpoint_key: anchors are signed checkpoints")
        return self


class ArgumentMapSettings(Strict):
    """Agent-facing argument names mapped to the backend's, and values always sent."""

    rename: dict[Annotated[str, Field(pattern=NAME)], str] = Field(
        {}, description="Agent name: backend name, e.g. {customer_id: customerId}"
    )
    fixed: dict[str, Any] = Field(
        {}, description="Backend argument: value sent on every call, hidden from agents"
    )


class ToolSettings(Strict):
    derived_from: str | None = Field(
        None,
        alias="from",
        description="Make this a new tool calling the same operation as that tool (e.g. get_customer_v2 "
        "from get_customer_info), with its own transform, output and settings",
    )
    description: str | None = Field(None, description="Replace the description agents see")
    sensitive_args: list[str] = Field([], description="Arguments masked in the audit trail")
    timeout: Duration | None = Field(None, description="Overrides the backend's timeout for this tool")
    connect_timeout: Duration | None = Field(
        None, description="Overrides the backend's connect_timeout for this tool"
    )
    redact: RedactSettings | None = Field(
        None, description='Masked in results unless policy permits Action::"unmask" on the tool'
    )
    rate_limit: str | None = Field(None, description="Per principal, e.g. 100/minute")
    cache: CacheSettings | None = Field(None, description="Only for read-only tools")
    invalidates: list[str] = Field([], description="Cached results of these tools are dropped after a call")
    fallback: list[str] = Field(
        [], description="On backend failure, in order: `cache` (last good value, marked stale) or a tool name"
    )
    idempotent: bool | None = Field(
        None, description="Override the backend's hint: idempotent calls may be retried"
    )
    transform: str | None = Field(
        None, description="JMESPath applied to results, e.g. '{customer_id: Id, name: {first: FirstName}}'"
    )
    output: str | None = Field(
        None,
        description="A schema from `schemas:` (e.g. customer@2): results are validated against it and it is advertised",
    )
    arguments: ArgumentMapSettings | None = Field(
        None, description="Rename arguments for agents and fix others (the input schema follows)"
    )
    execution: Execution = Field(
        "optional",
        description="sync: never a job; async: always a job (an ordinary call answers with it); "
        "optional: either, as the agent asks",
    )
    job: ToolJobSettings = Field(ToolJobSettings(), description="How it runs as a job")
    follow: FollowSettings | None = Field(
        None, description="OpenAPI tools whose backend answers 202 and a status URL: followed to the end"
    )
    slo: SloSettings | None = Field(None, description="Service level objectives of this tool")
    cost: CostSettings | None = Field(
        None, description="What a call of this tool costs (replaces the backend's)"
    )
    result_items: str | None = Field(
        None,
        description="The list in this read-only tool's results (keys, e.g. `customers`) whose items result "
        'policies (Action::"read") decide one by one: items the caller may not read are left out and '
        "counted in meta.filtered",
    )

    @field_validator("result_items")
    @classmethod
    def _items(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(not key.strip() for key in value.split("."))):
            raise ValueError(f"{value!r} is not a path of keys like `customers` or `page.items`")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        return None if value is None else check_rate(value)


class PolicySourceSettings(Strict):
    inline: str | None = Field(None, description="Cedar policies written here")
    file: str | None = Field(None, description="A file of Cedar policies, relative to this file")
    mode: Literal["enforce", "log_only"] = Field(
        "enforce",
        description="log_only: evaluated and logged where they would change a decision, never enforced",
    )

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        exactly_one(self, ("inline", "file"), "policy source")
        return self


class LoggingSettings(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


def _check_scheme(value: str, schemes: tuple[str, ...]) -> str:
    scheme = value.split("://", 1)[0] if "://" in value else ""
    base = scheme.split("+", 1)[0]
    if base not in schemes:
        expected = ", ".join(f"{s}://" for s in schemes)
        raise ValueError(f"unknown scheme {scheme or value!r}: expected one of {expected}")
    return value


def _string_or_list(schema: dict[str, Any]) -> None:
    """Advertise the `policies: |` shorthand beside the list form in the JSON Schema."""
    listed = {"type": "array", "items": schema.pop("items")}
    schema.pop("type", None)
    schema["anyOf"] = [{"type": "string", "description": "Cedar policies, enforced"}, listed]


class Settings(Strict):
    """pasarela.yaml."""

    version: Literal[1]
    server: ServerSettings = ServerSettings()
    state: str = Field(
        "sqlite:///./pasarela.db",
        description="Durable state (audit, quotas, jobs, pins): sqlite:// or postgresql://",
    )
    shared: str = Field("memory://", description="Hot state shared by replicas: memory:// or redis://")
    description_cache: bool | str = Field(
        True,
        description="Directory keeping converted backend descriptions by content hash (true: "
        ".pasarela-cache beside the SQLite state file, or beside this file; false: off)",
    )
    secrets: list[SecretSourceSettings] = [SecretSourceSettings(env=EnvSecretsSettings())]
    identity: IdentitySettings = IdentitySettings()
    backends: dict[Annotated[str, Field(pattern=NAME)], BackendSettings] = {}
    tools: dict[str, ToolSettings] = {}
    composites: dict[Annotated[str, Field(pattern=NAME)], CompositeSettings] = Field(
        {}, description="Tools that orchestrate other tools: steps, routing, fan-out, partial success"
    )
    access: dict[str, list[str]] = Field(
        {}, description="Role → tools it may call ('*' for all). Deny by default."
    )
    tool_search: ToolSearchSettings = Field(
        ToolSearchSettings(),
        description="Discovery mode for large catalogs: search_tools and call_tool instead of the list",
    )
    policies: list[PolicySourceSettings] = Field(
        [],
        description="Cedar policies (ABAC): a string, or a list of {inline|file, mode}. forbid wins.",
        json_schema_extra=_string_or_list,
    )
    schemas: dict[Annotated[str, Field(pattern=SCHEMA_NAME)], dict[str, Any]] = Field(
        {},
        description="Named, versioned JSON Schemas (name@version): an inline schema, or {file: path}",
    )
    rate_limits: list[RateLimitRule] = Field(
        [], description="Rate limits by principal, role, tool or backend"
    )
    quotas: list[QuotaRule] = Field([], description="Daily or monthly budgets, kept in the durable state")
    idempotency: IdempotencySettings = IdempotencySettings()
    jobs: JobsSettings = Field(JobsSettings(), description="Durable jobs: workers and their limits")
    cache: CacheStoreSettings = CacheStoreSettings()
    budgets: list[BudgetRule] = Field([], description="Spending limits per agent (warn or deny)")
    logging: LoggingSettings = LoggingSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    audit: AuditSettings = AuditSettings()
    webhooks: WebhooksSettings = Field(
        WebhooksSettings(),
        description="Signed webhook deliveries to endpoints registered per principal (jobs, events)",
    )
    events: EventsSettings = Field(
        EventsSettings(),
        description="Events from systems (webhooks, brokers, change data capture) to subscribed agents",
    )
    resources: dict[Annotated[str, Field(pattern=NAME)], ResourceSettings] = Field(
        {}, description="MCP resources and resource templates: text, a file, or a read-only tool's result"
    )
    prompts: dict[Annotated[str, Field(pattern=NAME)], PromptSettings] = Field(
        {}, description="MCP prompts: messages with {argument} placeholders"
    )
    console: ConsoleSettings = Field(
        ConsoleSettings(), description="The operator console at /admin, for principals with the admin role"
    )

    @field_validator("policies", mode="before")
    @classmethod
    def _policies_string(cls, value: Any) -> Any:
        # `policies: |` (a Cedar string) is shorthand for one enforced inline source.
        return [{"inline": value}] if isinstance(value, str) else value

    @field_validator("description_cache", mode="before")
    @classmethod
    def _cache_switch(cls, value: Any) -> Any:
        # `${env:…}` gives text: "false" turns the cache off rather than naming a directory.
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, bool) or (isinstance(value, str) and value.strip()):
            return value
        raise ValueError(f"expected true, false or a directory, got {value!r}")

    @field_validator("state")
    @classmethod
    def _state_scheme(cls, value: str) -> str:
        return _check_scheme(value, STATE_SCHEMES)

    @field_validator("shared")
    @classmethod
    def _shared_scheme(cls, value: str) -> str:
        return _check_scheme(value, SHARED_SCHEMES)

    @model_validator(mode="after")
    def _workers_share(self) -> Self:
        problem = workers_problem(self.shared, self.server.workers)
        if problem is not None:
            raise ValueError(problem)
        return self


def workers_problem(shared: str, workers: int) -> str | None:
    """Why `workers` processes cannot run on this shared state (None when they can)."""
    if workers > 1 and shared.split("://", 1)[0] == "memory":
        return (
            f"server.workers is {workers}, but shared is memory://, which lives inside one process: "
            "each worker would keep its own rate limits, breakers, bulkheads, idempotency keys and "
            "cache. Set shared: redis://… so all the workers share them, or run one worker"
        )
    return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of pasarela.yaml, for editors."""
    schema = Settings.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pasarela.yaml"
    return schema
