"""Build a Gateway from a loaded configuration: connectors, catalog, authorizer, stages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import structlog
from sqlalchemy.exc import SQLAlchemyError

from pasarela.audit import AuditStage, AuditWriter
from pasarela.audit.anchors import AnchorLog
from pasarela.audit.stage import AuditRules
from pasarela.caching import ResultCache
from pasarela.catalog import Catalog, ToolSpec
from pasarela.catalog.derived import derive_tools
from pasarela.catalog.discovery import Discovery, check_tool_search
from pasarela.catalog.pinning import ToolPins
from pasarela.catalog.selection import select_tools
from pasarela.config.loader import LoadedConfig
from pasarela.connectors.base import Connector
from pasarela.connectors.registry import create_connector
from pasarela.content.loading import ServedContent, load_content
from pasarela.content.references import check_content_references
from pasarela.contracts import ToolContract, load_registry
from pasarela.contracts.checks import check_contracts, tool_contracts, with_contract
from pasarela.costs import CostLedger, CostStage, compile_budgets, compile_prices
from pasarela.errors import ConfigError, ConfigProblem, StartupError
from pasarela.events.checks import check_events, event_types
from pasarela.events.service import EventCore, Events
from pasarela.flow import build_flow_stages, check_flow
from pasarela.identity import ApiKeyAuthenticator, Authenticator
from pasarela.identity.jwt_tokens import JwtAuthenticator
from pasarela.orchestration.catalog import composite_tools
from pasarela.pipeline import AuthorizeStage, Gateway, ValidateStage
from pasarela.pipeline.call import CallTracer, Via
from pasarela.pipeline.redact import RedactStage
from pasarela.pipeline.results import ResultPolicyStage, check_result_items
from pasarela.pipeline.scrub import ScrubSecretsStage
from pasarela.plans import ToolPlan, compile_plans
from pasarela.policy import CedarAuthorizer
from pasarela.policy.sources import ALL_TOOLS, PolicySource, check_sources, referenced_tools
from pasarela.protection import PathError, parse_path
from pasarela.shared import SharedState, open_shared, reachable
from pasarela.state import StateStore, open_state
from pasarela.telemetry import GatewayMetrics, TelemetryStage
from pasarela.telemetry.tracing import Tracing, build_tracing, require_sdk
from pasarela.webhooks import Webhooks
from pasarela.webhooks.endpoints import check_principals

log = structlog.get_logger("pasarela.assembly")


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything the doors need, built once per configuration."""

    config: LoadedConfig
    gateway: Gateway
    authenticator: Authenticator
    authorizer: CedarAuthorizer
    metrics: GatewayMetrics
    state: StateStore
    shared: SharedState
    audit: AuditWriter | None
    webhooks: Webhooks  # notify(principal, event type, payload): jobs and events tell agents
    events: Events  # sources in, the log, subscribers out (docs/events.md)
    tracing: Tracing | None = None
    costs: CostLedger | None = None
    content: ServedContent = field(default_factory=ServedContent)  # MCP resources, prompts (docs/doors.md)
    discovery: Discovery | None = None  # tool_search: who searches instead of listing (docs/doors.md)

    async def aclose(self, *, keep: Runtime | None = None) -> None:
        """Close everything, except the parts `keep` (the runtime that replaced this one) shares."""
        await self.gateway.aclose()
        if self.tracing is not None and (keep is None or keep.tracing is not self.tracing):
            await self.tracing.aclose()  # the spans still queued are exported first
        if self.costs is not None and (keep is None or keep.costs is not self.costs):
            await self.costs.aclose()  # charges still queued reach the store before it closes
        if keep is None or keep.webhooks is not self.webhooks:
            await self.webhooks.aclose()
        if self.audit is not None and (keep is None or keep.audit is not self.audit):
            await self.audit.aclose()  # the last batch reaches the chain before the store closes
        if keep is None or keep.state is not self.state:
            await self.state.aclose()
        if keep is None or keep.shared is not self.shared:
            await self.shared.aclose()


async def build_runtime(
    config: LoadedConfig,
    *,
    reuse: Runtime | None = None,
    read_only: bool = False,
    on_backend: Callable[[str], None] | None = None,
) -> Runtime:
    """Build every part for `config`; on reload, `reuse` (the running runtime) lends the parts
    whose settings did not change — state and shared stores, the audit writer, the metrics —
    so counters, limits, cached results and the audit chain carry on.

    `read_only` is for commands that only look (`check`, `tools list`, `policy explain`): no
    pins are written, no audit writer is opened, the shared store is a private memory:// one,
    and the state store's schema is read, never created or stamped. `on_backend(name)` is told
    as each backend starts loading (progress for people at a terminal)."""
    settings = config.settings
    connectors: dict[str, Connector] = {}
    tools: list[ToolSpec] = []
    problems: list[ConfigProblem] = []
    before = reuse.config.settings if reuse is not None else None
    if reuse is not None and before is not None and before.state == settings.state:
        state = reuse.state
    else:
        state = await open_state(
            settings.state, config.base_dir, source=config.source, schema="read" if read_only else "check"
        )
    shared: SharedState | None = None
    if (
        reuse is not None
        and before is not None
        and (before.shared, before.cache) == (settings.shared, settings.cache)
    ):
        shared = reuse.shared
    try:
        for name, backend in settings.backends.items():
            if on_backend is not None:
                on_backend(name)
            connector = create_connector(name, backend, config)
            connectors[name] = connector
            try:
                loaded = await connector.load()
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            selection = backend.tools
            chosen, found = select_tools(
                loaded,
                include=selection.include,
                exclude=selection.exclude,
                rename=selection.rename,
                source=config.source,
                key_path=f"backends.{name}.tools",
            )
            problems.extend(found)
            tools.extend(chosen)
        if problems:
            raise ConfigError(problems)
        # Pinned as the backends serve them, before the operator's own overrides.
        auto_approve = {name for name, backend in settings.backends.items() if backend.auto_approve_changes}
        quarantined = await ToolPins(state).reconcile(tools, auto_approve, write=not read_only)
        tools, held, problems = derive_tools(
            tools, {name: q.message for name, q in quarantined.items()}, settings.tools, config.source
        )
        if problems:
            raise ConfigError(problems)
        registry = load_registry(config)
        contracted = [with_contract(_with_overrides(spec, config), config, registry) for spec in tools]
        tools = [_scrubbed(spec, config) for spec, _ in contracted]
        problems = [problem for _, found in contracted for problem in found]
        composed, composites, found = composite_tools(
            settings.composites, {t.name: t for t in tools}, config.source, set(held), registry
        )
        problems += found
        catalog = Catalog([*tools, *composed], source=config.source, quarantined=held)
        content, found = await load_content(config, catalog, connectors, ToolPins(state), write=not read_only)
        problems += found
        sources = policy_sources(config)
        problems += (
            _check_references(catalog, config)
            + _check_policies(sources, catalog, config)
            + _check_masking(config)
            + check_flow(catalog, config)
            + check_contracts(config, registry)
            + check_result_items(catalog, config)
            + check_principals(config)
            + check_events(config, catalog, registry, sources)
            + check_content_references(sources, content.catalog, config.source)
            + check_tool_search(settings.tool_search, catalog, config.source)
        )
        prices, found = compile_prices(settings, catalog, config.source)
        problems += found
        if problems:
            raise ConfigError(problems)
        if shared is None:
            shared = await (
                open_shared("memory://", source=config.source) if read_only else _open_shared(config)
            )
        if (
            reuse is not None
            and reuse.state is state
            and before is not None
            and before.audit == settings.audit
        ):
            audit = reuse.audit
        else:
            audit = None if read_only else await _audit_writer(config, state)
    except ConfigError as exc:
        await _close_all(connectors, state, shared, reuse)
        raise ConfigError(config.locate(exc.problems)) from None
    except BaseException:
        await _close_all(connectors, state, shared, reuse)
        raise

    metrics = reuse.metrics if reuse is not None else GatewayMetrics(settings.telemetry.agent_labels)
    tracing = _tracing(config, reuse, read_only)
    tracer = _tracer(tracing)
    if reuse is not None and reuse.state is state and reuse.webhooks.settings == settings.webhooks:
        webhooks = reuse.webhooks
    else:
        webhooks = Webhooks.from_config(config, state, metrics)
    identity = settings.identity
    jwt = JwtAuthenticator(identity.jwt) if identity.jwt is not None else None
    obo = identity.on_behalf_of
    users = JwtAuthenticator(obo.jwt, kind="user") if obo is not None else None
    authenticator = Authenticator(
        ApiKeyAuthenticator(identity.api_keys, config.redactor),
        jwt,
        users,
        obo.header if obo is not None else "X-On-Behalf-Of",
    )
    authorizer = CedarAuthorizer(
        settings.access,
        sources,
        authenticator.api_keys.principals(),
        catalog,
        event_types(config),
        content.catalog.entities(),
    )
    # Quarantined tools too: a refused call to one is still audited with its arguments masked.
    contracts = tool_contracts(config, registry)
    # A composite's `output:` is held to its schema by the same contract stage as any tool's.
    contracts.update(
        (name, ToolContract(None, registry.get(c.output)))
        for name, c in settings.composites.items()
        if c.output
    )
    plans = compile_plans(settings, [*catalog.names(), *catalog.quarantined()], contracts)
    audit_stage = _audit_stage(audit, config, plans) if audit is not None else None
    budgets = compile_budgets(settings.budgets)
    costs = _cost_ledger(state, reuse, read_only) if (prices or budgets) else None
    charging = (CostStage(prices, budgets, costs, metrics),) if costs is not None else ()
    flow = build_flow_stages(config, catalog, shared, state, metrics, plans, tracer, charging)
    gateway = Gateway(
        catalog,
        connectors,
        rejection_observers=[audit_stage.rejected] if audit_stage is not None else [],
        stages=[
            TelemetryStage(metrics),
            *([audit_stage] if audit_stage is not None else []),
            ScrubSecretsStage(config.redactor),
            AuthorizeStage(authorizer),
            ValidateStage(catalog),
            RedactStage({n: p.masking for n, p in plans.items() if p.masking is not None}, authorizer),
            # Inside redaction (policies see real values), outside the cache (every caller is checked).
            ResultPolicyStage(authorizer, {n: p.result_items for n, p in plans.items() if p.result_items}),
            *flow.stages,
        ],
        authorizer=authorizer,
        plans=plans,
        composites=composites,
        tracer=tracer,
    )
    core = (
        reuse.events.core
        if reuse is not None and reuse.state is state
        else EventCore(state, settings.events.poll_interval)
    )
    events = Events(
        settings.events,
        core,
        registry,
        authorizer,
        ResultCache(shared.cache),
        {name: plan.cache for name, plan in plans.items() if plan.cache is not None},
        metrics,
    )
    flow.fallback.bind(
        lambda parent, tool, arguments: gateway.call_child(parent, tool, arguments, via=Via.FALLBACK)
    )
    return Runtime(
        config=config,
        gateway=gateway,
        authenticator=authenticator,
        authorizer=authorizer,
        metrics=metrics,
        state=state,
        shared=shared,
        audit=audit,
        tracing=tracing,
        costs=costs,
        webhooks=webhooks,
        events=events,
        content=content,
        discovery=Discovery(settings.tool_search, catalog) if settings.tool_search.enabled else None,
    )


def _cost_ledger(state: StateStore, reuse: Runtime | None, read_only: bool) -> CostLedger | None:
    """The ledger calls are charged to (kept across a reload on the same state store)."""
    if read_only:
        return None
    if reuse is not None and reuse.costs is not None and reuse.state is state:
        return reuse.costs
    ledger = CostLedger(state)
    ledger.start()
    return ledger


def _tracing(config: LoadedConfig, reuse: Runtime | None, read_only: bool) -> Tracing | None:
    """Tracing when configured (never for commands that only look); kept across a reload that
    leaves its settings as they were."""
    settings = config.settings.telemetry.tracing
    if settings is None:
        return None
    if read_only:  # `pasarela check` still says when the SDK tracing needs is missing
        require_sdk(settings, config.source)
        return None
    if reuse is not None and reuse.tracing is not None and reuse.tracing.settings == settings:
        return reuse.tracing
    return build_tracing(settings, source=config.source)


def _tracer(tracing: Tracing | None) -> CallTracer | None:
    if tracing is None:
        return None
    from pasarela.telemetry.spans import TraceObserver  # OpenTelemetry is imported only when tracing

    return TraceObserver(tracing.tracer)


async def _open_shared(config: LoadedConfig) -> SharedState:
    settings = config.settings
    shared = await open_shared(settings.shared, max_entries=settings.cache.max_entries, source=config.source)
    problem = await reachable(shared)
    if problem is not None:
        # Replicas keep serving through an outage (limits follow on_store_error), so start too.
        log.warning("shared_store_unreachable", url=_without_password(settings.shared), error=problem)
    return shared


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}{sep}***@{host}" if at and credentials else url


async def _audit_writer(config: LoadedConfig, state: StateStore) -> AuditWriter | None:
    settings = config.settings.audit
    if not settings.enabled:
        return None
    key = settings.checkpoint_key.get_secret_value().encode() if settings.checkpoint_key else None
    if key is None:
        log.warning(
            "audit_checkpoints_disabled", hint="set audit.checkpoint_key to detect truncation of the trail"
        )
    writer = AuditWriter(
        state,
        flush_interval=settings.flush_interval,
        batch_size=settings.batch_size,
        checkpoint_key=key,
        checkpoint_every=settings.checkpoint_every,
        checkpoint_interval=settings.checkpoint_interval,
        anchors=AnchorLog(config.resolve_path(settings.anchor_file)) if settings.anchor_file else None,
        drain_timeout=settings.drain_timeout,
        stall_after=settings.commit_timeout,
    )
    try:
        await writer.start()
    except SQLAlchemyError as exc:
        raise StartupError(
            f"cannot prepare the audit trail in the state store: {type(exc).__name__}"
        ) from exc
    except OSError as exc:
        raise StartupError(
            f"cannot create the audit anchor file {settings.anchor_file!r}: {exc.strerror or exc}"
        ) from exc
    return writer


def _audit_stage(writer: AuditWriter, config: LoadedConfig, plans: Mapping[str, ToolPlan]) -> AuditStage:
    sensitive = {name: plan.sensitive_args for name, plan in plans.items() if plan.sensitive_args}
    audit = config.settings.audit
    rules = AuditRules(audit.durability, audit.commit_timeout, audit.when_unavailable)
    return AuditStage(writer, config.redactor, sensitive, rules)


async def _close_all(
    connectors: dict[str, Connector], state: StateStore, shared: SharedState | None, reuse: Runtime | None
) -> None:
    """After a failed build: close what this build opened, never what it borrowed."""
    for connector in connectors.values():
        await connector.aclose()
    if reuse is None or state is not reuse.state:
        await state.aclose()
    if shared is not None and (reuse is None or shared is not reuse.shared):
        await shared.aclose()


def _with_overrides(spec: ToolSpec, config: LoadedConfig) -> ToolSpec:
    override = config.settings.tools.get(spec.name)
    if override is None:
        return spec
    if override.description is not None:
        spec = replace(spec, description=override.description)
    if override.idempotent is not None:
        spec = replace(spec, annotations=replace(spec.annotations, idempotent=override.idempotent))
    return spec


def _scrubbed(spec: ToolSpec, config: LoadedConfig) -> ToolSpec:
    """Descriptions come from backends: a known secret in one is masked before any agent sees it."""
    description = config.redactor.redact(spec.description)
    return spec if description == spec.description else replace(spec, description=description)


def _check_references(catalog: Catalog, config: LoadedConfig) -> list[ConfigProblem]:
    """`tools:` and `access:` may only name tools that exist: a typo must not pass silently."""
    problems: list[ConfigProblem] = []
    known = set(catalog.names()) | set(catalog.quarantined())
    backends = config.settings.backends
    for name, settings in config.settings.tools.items():
        if name not in known:
            problems.append(ConfigProblem(config.source, f"tools.{name}", "no tool with this name"))
        elif settings.follow is not None and name in catalog:
            backend = catalog.get(name).backend
            kind = backends[backend].kind if backend in backends else "composite"
            if kind != "openapi":
                problems.append(
                    ConfigProblem(
                        config.source,
                        f"tools.{name}.follow",
                        f"only OpenAPI tools can follow a 202 and a status URL; this one is {kind}",
                    )
                )
    for role, names in config.settings.access.items():
        for index, name in enumerate(names):
            if name != ALL_TOOLS and name not in known:
                problems.append(
                    ConfigProblem(config.source, f"access.{role}[{index}]", f"no tool named {name!r}")
                )
    return problems


def _check_masking(config: LoadedConfig) -> list[ConfigProblem]:
    problems = []
    for name, tool in config.settings.tools.items():
        for index, path in enumerate(tool.redact.paths if tool.redact else []):
            try:
                parse_path(path)
            except PathError as exc:
                problems.append(ConfigProblem(config.source, f"tools.{name}.redact.paths[{index}]", str(exc)))
    return problems


def policy_sources(config: LoadedConfig) -> list[PolicySource]:
    """Every `policies:` source in order (`access:` is compiled by the authorizer itself)."""
    settings = config.settings
    sources: list[PolicySource] = []
    problems: list[ConfigProblem] = []
    for index, item in enumerate(settings.policies):
        key = f"policies[{index}]"
        shadow = item.mode == "log_only"
        if item.file is not None:
            path = config.resolve_path(item.file)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                problems.append(
                    ConfigProblem(config.source, f"{key}.file", f"cannot read {path}: {exc.strerror}")
                )
                continue
            sources.append(PolicySource(item.file, text, f"{key}.file", shadow))
        else:
            sources.append(PolicySource(key, item.inline or "", f"{key}.inline", shadow))
    if problems:
        raise ConfigError(problems)
    return sources


def _check_policies(
    sources: list[PolicySource], catalog: Catalog, config: LoadedConfig
) -> list[ConfigProblem]:
    problems = check_sources(sources, config.source)
    for source in sources:
        for name in sorted(referenced_tools(source) - set(catalog.names()) - set(catalog.quarantined())):
            problems.append(ConfigProblem(config.source, source.key_path, f'Tool::"{name}" names no tool'))
    return problems
