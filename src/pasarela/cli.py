"""The `pasarela` command."""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import orjson
import typer
from rich.console import Console

from pasarela import __version__
from pasarela.assembly import Runtime, build_runtime
from pasarela.audit import search, verify
from pasarela.catalog.formats import render
from pasarela.catalog.pinning import ToolPins
from pasarela.config import DEFAULT_CONFIG, LoadedConfig, json_schema, load_config
from pasarela.contracts import load_registry
from pasarela.contracts.pins import SchemaPins, SchemaReport, check_schemas
from pasarela.errors import ConfigError, PasarelaError, StartupError
from pasarela.identity import Principal
from pasarela.pipeline import Decision
from pasarela.state import StateStore, open_state
from pasarela.telemetry import configure_logging
from pasarela.traffic import QuotaLedger, quota_report

T = TypeVar("T")

app = typer.Typer(
    name="pasarela",
    help="A governed gateway between AI agents and enterprise systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tools_app = typer.Typer(help="The tool catalog.", no_args_is_help=True)
config_app = typer.Typer(help="The configuration file.", no_args_is_help=True)
policy_app = typer.Typer(help="Authorization policies.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(tools_app, name="tools")
app.add_typer(config_app, name="config")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
schemas_app = typer.Typer(help="The schema registry (schemas: in the configuration).", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")

err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The configuration file.", show_default=True)
]
AsOption = Annotated[str | None, typer.Option("--as", help="Act as this configured principal.")]


def _print_json(payload: Any) -> None:
    sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
    sys.stdout.flush()


def _fail_config(error: ConfigError) -> typer.Exit:
    err.print(f"[bold red]Configuration has {len(error.problems)} problem(s):[/]")
    for problem in error.problems:
        err.print(f"  {problem}", markup=False)
    return typer.Exit(1)


def _load(path: Path) -> LoadedConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise _fail_config(exc) from None


def _with_runtime(loaded: LoadedConfig, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Build the runtime (showing progress while backends load), run `work`, close it."""

    async def main() -> T:
        if err.is_terminal:
            with err.status(f"Loading {len(loaded.settings.backends)} backend(s)…"):
                runtime = await build_runtime(loaded)
        else:
            runtime = await build_runtime(loaded)
        try:
            return await work(runtime)
        finally:
            await runtime.aclose()

    try:
        return anyio.run(main)
    except ConfigError as exc:
        raise _fail_config(exc) from None
    except StartupError as exc:
        err.print(exc.detail, markup=False)
        raise typer.Exit(1) from None


def _quiet_logs(loaded: LoadedConfig) -> None:
    configure_logging(loaded.redactor, level="warning", fmt=loaded.settings.logging.format)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


@app.command()
def serve(
    config: ConfigOption = Path(DEFAULT_CONFIG),
    host: Annotated[str | None, typer.Option(help="Override server.host.")] = None,
    port: Annotated[int | None, typer.Option(help="Override server.port.")] = None,
) -> None:
    """Run the gateway (MCP at /mcp, REST at /v1)."""
    from pasarela.server.serve import serve_http

    loaded = _load(config)
    configure_logging(
        loaded.redactor, level=loaded.settings.logging.level, fmt=loaded.settings.logging.format
    )
    try:
        reload = functools.partial(load_config, config)  # SIGHUP: read the file (and secrets) again
        anyio.run(
            functools.partial(serve_http, loaded, host, port, reload=reload),
            backend_options={"use_uvloop": True},
        )
    except ConfigError as exc:
        raise _fail_config(exc) from None
    except PasarelaError as exc:
        err.print(exc.detail, markup=False)
        raise typer.Exit(1) from None


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="The gateway's port; the sample systems take free ports.")] = 8080,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the sample systems keep their SQLite data (default: a temp dir)."),
    ] = None,
    postgres: Annotated[
        str | None,
        typer.Option(
            help="Keep the transactions in this PostgreSQL database (postgresql://…) instead of SQLite; "
            "needs pasarela[postgres]."
        ),
    ] = None,
) -> None:
    """Start the sample bank (CRM, ticketing, core banking, loans, transactions) and a gateway
    for it; Ctrl-C stops everything."""
    from pasarela.demo.runner import run_demo

    raise typer.Exit(run_demo(port=port, data_dir=data_dir, postgres=postgres))


@app.command()
def stdio(config: ConfigOption = Path(DEFAULT_CONFIG), as_: AsOption = None) -> None:
    """Serve MCP over stdin/stdout, as the principal given by --as or the key in PASARELA_API_KEY."""
    from pasarela.server.stdio import serve_stdio

    loaded = _load(config)
    configure_logging(loaded.redactor, level=loaded.settings.logging.level, fmt="json", stream=sys.stderr)

    async def main() -> None:
        runtime = await build_runtime(loaded)
        try:
            principal = await _stdio_principal(runtime, as_)
        except PasarelaError as exc:
            await runtime.aclose()
            err.print(exc.detail, markup=False)
            raise typer.Exit(1) from None
        await serve_stdio(runtime, principal)

    try:
        anyio.run(main)
    except ConfigError as exc:
        raise _fail_config(exc) from None


async def _stdio_principal(runtime: Runtime, as_: str | None) -> Principal:
    key = os.environ.get("PASARELA_API_KEY")
    if as_ is not None:
        return runtime.authenticator.local_principal(as_)
    if key:
        return await runtime.authenticator.authenticate(f"Bearer {key}")
    raise PasarelaError("choose the principal: pass --as PRINCIPAL or set PASARELA_API_KEY")


@app.command()
def check(config: ConfigOption = Path(DEFAULT_CONFIG)) -> None:
    """Validate a configuration, load every backend, and report every problem; exit 1 on any."""
    loaded = _load(config)
    _quiet_logs(loaded)

    async def summarise(runtime: Runtime) -> str:
        catalog = runtime.gateway.catalog
        return f"{config}: OK — {len(catalog)} tool(s) from {len(loaded.settings.backends)} backend(s)"

    err.print(_with_runtime(loaded, summarise), markup=False)


@tools_app.command("list")
def tools_list(
    config: ConfigOption = Path(DEFAULT_CONFIG),
    fmt: Annotated[str, typer.Option("--format", help="json | openai | anthropic | mcp")] = "json",
    as_: AsOption = None,
) -> None:
    """Print the catalog (all tools, or those a principal may use)."""
    if fmt not in ("json", "openai", "anthropic", "mcp"):
        err.print(f"--format: unknown format {fmt!r}; expected json, openai, anthropic or mcp", markup=False)
        raise typer.Exit(2)
    loaded = _load(config)
    _quiet_logs(loaded)

    async def listing(runtime: Runtime) -> list[dict[str, Any]]:
        tools = list(runtime.gateway.catalog)
        if as_ is not None:
            tools = runtime.gateway.tools_for(runtime.authenticator.local_principal(as_), "cli")
        return render(tools, fmt)

    try:
        _print_json(_with_runtime(loaded, listing))
    except PasarelaError as exc:
        err.print(exc.detail, markup=False)
        raise typer.Exit(1) from None


def _with_pins(loaded: LoadedConfig, work: Callable[[ToolPins], Awaitable[T]]) -> T:
    return _with_state(loaded, lambda store: work(ToolPins(store)))


@tools_app.command("diff")
def tools_diff(
    name: Annotated[str, typer.Argument(help="The tool's name.")], config: ConfigOption = Path(DEFAULT_CONFIG)
) -> None:
    """Show how a quarantined tool's definition changed since it was approved."""
    loaded = _load(config)
    _quiet_logs(loaded)
    try:
        text = _with_pins(loaded, lambda pins: pins.diff(name))
    except KeyError:
        err.print(f"no tool named {name!r} has been pinned", markup=False)
        raise typer.Exit(1) from None
    if text is None:
        err.print(f"{name}: no change is waiting for approval", markup=False)
        return
    sys.stdout.write(text)


@tools_app.command("approve")
def tools_approve(
    name: Annotated[str, typer.Argument(help="The tool's name.")], config: ConfigOption = Path(DEFAULT_CONFIG)
) -> None:
    """Accept a quarantined tool's new definition (running gateways serve it after a reload, SIGHUP, or a restart)."""
    loaded = _load(config)
    _quiet_logs(loaded)
    try:
        approved = _with_pins(loaded, lambda pins: pins.approve(name))
    except KeyError:
        err.print(f"no tool named {name!r} has been pinned", markup=False)
        raise typer.Exit(1) from None
    err.print(f"{name}: {'approved' if approved else 'nothing to approve'}", markup=False)


def _with_state(loaded: LoadedConfig, work: Callable[[StateStore], Awaitable[T]]) -> T:
    async def main() -> T:
        store = await open_state(loaded.settings.state, loaded.base_dir, source=loaded.source)
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return anyio.run(main)
    except ConfigError as exc:
        raise _fail_config(exc) from None


def _audit_line(record: dict[str, Any]) -> str:
    at = dt.datetime.fromtimestamp(record["at"], dt.UTC).isoformat(timespec="milliseconds")
    user = f" for {record['on_behalf_of']}" if record["on_behalf_of"] else ""
    status = f" upstream={record['upstream_status']}" if record["upstream_status"] is not None else ""
    return (
        f"#{record['seq']} {at} {record['principal']}{user} via {record['door']} {record['tool']} "
        f"{record['decision']} {record['outcome']}{status} {record['latency_ms']}ms "
        f"policies={record['policies']} args={record['arguments']} request={record['request_id']}"
    )


@audit_app.command("verify")
def audit_verify(config: ConfigOption = Path(DEFAULT_CONFIG)) -> None:
    """Check the whole chain; exit 1 naming the first bad record if anything was changed."""
    loaded = _load(config)
    _quiet_logs(loaded)
    key = loaded.settings.audit.checkpoint_key
    verdict = _with_state(
        loaded, lambda store: verify(store, key.get_secret_value().encode() if key else None)
    )
    if verdict.ok:
        err.print(f"audit: OK — {verdict.message}", markup=False)
        return
    err.print(f"audit: TAMPERED — {verdict.message}", markup=False)
    raise typer.Exit(1)


@audit_app.command("tail")
def audit_tail(
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many records.")] = 20,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """The most recent records, oldest first."""
    loaded = _load(config)
    _quiet_logs(loaded)
    for record in _with_state(loaded, lambda store: search(store, limit=lines)):
        sys.stdout.write(_audit_line(record) + "\n")


@audit_app.command("search")
def audit_search(
    principal: Annotated[str | None, typer.Option(help="Only this principal.")] = None,
    tool: Annotated[str | None, typer.Option(help="Only this tool.")] = None,
    outcome: Annotated[
        str | None, typer.Option(help="ok, denied, invalid_arguments, upstream_error …")
    ] = None,
    since: Annotated[str | None, typer.Option(help="ISO time, e.g. 2026-11-22T09:00")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time (exclusive)")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (the most recent).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Find records by principal, tool, outcome and time."""
    loaded = _load(config)
    _quiet_logs(loaded)
    bounds = [_timestamp(option, value) for option, value in (("--since", since), ("--until", until))]
    records = _with_state(
        loaded,
        lambda store: search(
            store,
            principal=principal,
            tool=tool,
            outcome=outcome,
            since=bounds[0],
            until=bounds[1],
            limit=limit,
        ),
    )
    for record in records:
        sys.stdout.write((orjson.dumps(record).decode() if as_json else _audit_line(record)) + "\n")


def _timestamp(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        err.print(f"{option}: expected an ISO time such as 2026-11-22T09:00, got {value!r}", markup=False)
        raise typer.Exit(2) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


@schemas_app.command("check")
def schemas_check(
    accept: Annotated[
        bool, typer.Option("--accept", help="Accept the current schemas as the reference for later checks.")
    ] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Compare each schema with its accepted version; exit 1 naming the tools a change breaks."""
    loaded = _load(config)
    _quiet_logs(loaded)
    try:
        registry = load_registry(loaded)
    except ConfigError as exc:
        raise _fail_config(ConfigError(loaded.locate(exc.problems))) from None

    async def work(store: StateStore) -> list[SchemaReport]:
        pins = SchemaPins(store)
        reports = check_schemas(loaded.settings, registry, await pins.pinned())
        if accept:
            await pins.accept(registry)
        return reports

    reports = _with_state(loaded, work)
    broken = False
    for report in reports:
        used_by = f" — declared by {', '.join(report.tools)}" if report.tools else ""
        if report.status != "changed":
            sys.stdout.write(f"{report.name}: {report.status}{used_by}\n")
            continue
        breaking = report.breaking
        verdict = (
            f"breaks {', '.join(report.tools) or 'no tool (none declares it)'}" if breaking else "compatible"
        )
        sys.stdout.write(f"{report.name}: changed in place, {verdict}\n")
        for change in report.changes:
            sys.stdout.write(f"  {change}\n")
        broken = broken or (bool(breaking) and bool(report.tools))
    if accept:
        err.print(f"accepted {len(registry.names())} schema(s) as the reference", markup=False)
    elif broken:
        err.print(
            "a published schema changed in a way that breaks its tools: publish a new version "
            "(name@N+1) instead, or accept the change with --accept",
            markup=False,
        )
        raise typer.Exit(1)


@app.command()
def quotas(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Usage of every configured quota in its current period (UTC day or month)."""
    loaded = _load(config)
    _quiet_logs(loaded)
    settings = loaded.settings
    now = time.time()
    usage = _with_state(loaded, lambda store: quota_report(settings, QuotaLedger(store), now))
    if as_json:
        for row in usage:
            line = {
                "rule": row.rule,
                "subject": row.subject,
                "period": row.period,
                "used": row.used,
                "limit": row.limit,
            }
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
        return
    if not settings.quotas:
        sys.stdout.write("no quotas are configured (quotas: in the configuration)\n")
        return
    for index, rule in enumerate(settings.quotas):
        scope = ", ".join(
            f"{name}={','.join(values)}"
            for name, values in (
                ("principals", rule.principals),
                ("roles", rule.roles),
                ("tools", rule.tools),
                ("backends", rule.backends),
            )
            if values
        )
        sys.stdout.write(
            f"quotas[{index}]: {rule.limit} per {rule.per} per [{', '.join(rule.key)}] ({scope or 'all calls'})\n"
        )
        rows = [row for row in usage if row.rule == f"quotas[{index}]"]
        for row in rows:
            sys.stdout.write(f"  {row.subject or '(all)'}  {row.period}  {row.used}/{row.limit} used\n")
        if not rows:
            sys.stdout.write("  nothing used this period\n")


@app.command()
def call(
    tool: Annotated[str, typer.Argument(help="The tool's name.")],
    as_: Annotated[str, typer.Option("--as", help="Act as this configured principal.")],
    args: Annotated[str, typer.Option("--args", help="The arguments, as a JSON object.")] = "{}",
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Call one tool through the full pipeline; print the result (or the problem) as JSON."""
    arguments = _parse_args(args)
    loaded = _load(config)
    _quiet_logs(loaded)

    async def one_call(runtime: Runtime) -> tuple[int, dict[str, Any]]:
        try:
            principal = runtime.authenticator.local_principal(as_)
            outcome = await runtime.gateway.call(principal, tool, arguments, door="cli")
        except PasarelaError as exc:
            return 1, exc.to_problem()
        return 0, {"result": outcome.result, "meta": dict(outcome.meta)}

    status, payload = _with_runtime(loaded, one_call)
    sys.stdout.write(
        loaded.redactor.redact(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()) + "\n"
    )
    raise typer.Exit(status)


def _parse_args(args: str) -> dict[str, Any]:
    try:
        arguments = orjson.loads(args)
    except orjson.JSONDecodeError as exc:
        err.print(f"--args: not valid JSON ({exc})", markup=False)
        raise typer.Exit(2) from None
    if not isinstance(arguments, dict):
        err.print('--args: expected a JSON object, e.g. --args \'{"customer_id": "12345"}\'', markup=False)
        raise typer.Exit(2)
    return arguments


def _parse_user(text: str) -> Principal:
    try:
        data = orjson.loads(text)
        roles = data.get("roles", [])
        attributes = data.get("attributes", {})
        if not isinstance(data["id"], str) or not isinstance(roles, list) or not isinstance(attributes, dict):
            raise TypeError
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        err.print('--on-behalf-of: expected {"id": "...", "roles": [...], "attributes": {...}}', markup=False)
        raise typer.Exit(2) from None
    return Principal(data["id"], frozenset(map(str, roles)), attributes, kind="user")


def _decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "decision": "allow" if decision.allowed else "deny",
        "policies": [
            {"policy": p.label, "effect": p.effect, "source": p.source, "reason": p.reason}
            for p in decision.policies
        ],
        "errors": list(decision.errors),
    }


@policy_app.command("explain")
def policy_explain(
    tool: Annotated[str, typer.Argument(help="The tool's name.")],
    as_: Annotated[str, typer.Option("--as", help="Decide for this configured principal.")],
    args: Annotated[str, typer.Option("--args", help="The call's arguments, as a JSON object.")] = "{}",
    door: Annotated[str, typer.Option(help="The door the call would come through (context.door).")] = "rest",
    on_behalf_of: Annotated[
        str | None,
        typer.Option(help='The end user, as JSON: {"id": "alice", "roles": [...], "attributes": {...}}'),
    ] = None,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Say whether a call would be allowed and which policies decide; exit 0 if allowed, 1 if denied."""
    arguments = _parse_args(args)
    user = _parse_user(on_behalf_of) if on_behalf_of is not None else None
    loaded = _load(config)
    _quiet_logs(loaded)

    async def explain(runtime: Runtime) -> dict[str, Any]:
        principal = replace(runtime.authenticator.local_principal(as_), on_behalf_of=user)
        spec = runtime.gateway.catalog.get(tool)
        decision = runtime.authorizer.explain(principal, spec, arguments, door=door)
        report = {"principal": principal.id, "tool": spec.name, **_decision_json(decision)}
        if decision.shadow is not None:
            report["shadow"] = _decision_json(decision.shadow)
        return report

    try:
        report = _with_runtime(loaded, explain)
    except PasarelaError as exc:
        err.print(exc.detail, markup=False)
        raise typer.Exit(2) from None
    _print_json(report)
    raise typer.Exit(0 if report["decision"] == "allow" else 1)


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of pasarela.yaml (for editors)."""
    _print_json(json_schema())


def main() -> None:
    app()
