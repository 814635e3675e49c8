"""The `pasarela` command."""

from __future__ import annotations

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

from pasarela import __version__, jsonsafe
from pasarela.assembly import Runtime, build_runtime
from pasarela.catalog.formats import render
from pasarela.catalog.pinning import ToolPins
from pasarela.commands.audit import audit_app
from pasarela.commands.common import (
    ConfigOption,
    ExitCode,
    err,
    fail_config,
    load,
    print_json,
    quiet_logs,
    with_runtime,
    with_state,
)
from pasarela.commands.composites import composites_app, step_timeline
from pasarela.commands.costs import costs
from pasarela.commands.jobs import jobs_app, worker
from pasarela.commands.kpis import kpis
from pasarela.commands.observability import observability_app
from pasarela.commands.state import state_app
from pasarela.commands.webhooks import webhooks_app
from pasarela.config import DEFAULT_CONFIG, LoadedConfig, json_schema, load_config
from pasarela.config.model import workers_problem
from pasarela.contracts import load_registry
from pasarela.contracts.pins import SchemaPins, SchemaReport, check_schemas
from pasarela.errors import ConfigError, ConfigProblem, PasarelaError
from pasarela.identity import Principal
from pasarela.pipeline import Decision, Door
from pasarela.state import StateStore
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
app.add_typer(tools_app, name="tools")
app.add_typer(config_app, name="config")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(state_app, name="state")
app.add_typer(jobs_app, name="jobs")
app.command()(worker)
app.add_typer(composites_app, name="composites")
app.add_typer(observability_app, name="observability")
app.command("kpis")(kpis)
app.command("costs")(costs)
app.add_typer(webhooks_app, name="webhooks")
schemas_app = typer.Typer(help="The schema registry (schemas: in the configuration).", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")

AsOption = Annotated[str | None, typer.Option("--as", help="Act as this configured principal.")]


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(ExitCode.OK)


@app.command()
def serve(
    config: ConfigOption = Path(DEFAULT_CONFIG),
    host: Annotated[str | None, typer.Option(help="Override server.host.")] = None,
    port: Annotated[int | None, typer.Option(help="Override server.port.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Override server.workers (processes, one per core).")
    ] = None,
) -> None:
    """Run the gateway (MCP at /mcp, REST at /v1)."""
    from pasarela.server.serve import serve_http
    from pasarela.server.workers import run_workers

    loaded = load(config)
    configure_logging(
        loaded.redactor, level=loaded.settings.logging.level, fmt=loaded.settings.logging.format
    )
    count = workers or loaded.settings.server.workers
    if (problem := workers_problem(loaded.settings.shared, count)) is not None:
        raise fail_config(ConfigError([ConfigProblem(str(config), "server.workers", problem)]))
    try:
        if count > 1:
            return run_workers(config, loaded, host, port, count)
        reload = functools.partial(load_config, config)  # SIGHUP: read the file (and secrets) again
        anyio.run(
            functools.partial(serve_http, loaded, host, port, reload=reload),
            backend_options={"use_uvloop": True},
        )
    except ConfigError as exc:
        raise fail_config(exc) from None
    except PasarelaError as exc:
        err.print(exc.detail, markup=False)
        raise typer.Exit(ExitCode.ERROR) from None


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

    loaded = load(config)
    configure_logging(loaded.redactor, level=loaded.settings.logging.level, fmt="json", stream=sys.stderr)

    async def main() -> None:
        runtime = await build_runtime(loaded)
        try:
            principal = await _stdio_principal(runtime, as_)
        except PasarelaError as exc:
            await runtime.aclose()
            err.print(exc.detail, markup=False)
            raise typer.Exit(ExitCode.ERROR) from None
        await serve_stdio(runtime, principal)

    try:
        anyio.run(main)
    except ConfigError as exc:
        raise fail_config(exc) from None


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
    loaded = load(config)
    quiet_logs(loaded)

    async def summarise(runtime: Runtime) -> str:
        catalog = runtime.gateway.catalog
        return f"{config}: OK — {len(catalog)} tool(s) from {len(loaded.settings.backends)} backend(s)"

    err.print(with_runtime(loaded, summarise, read_only=True), markup=False)


@tools_app.command("list")
def tools_list(
    config: ConfigOption = Path(DEFAULT_CONFIG),
    fmt: Annotated[str, typer.Option("--format", help="json | openai | anthropic | gemini | mcp")] = "json",
    as_: AsOption = None,
) -> None:
    """Print the catalog (all tools, or those a principal may use)."""
    if fmt not in ("json", "openai", "anthropic", "gemini", "mcp"):
        err.print(
            f"--format: unknown format {fmt!r}; expected json, openai, anthropic, gemini or mcp", markup=False
        )
        raise typer.Exit(ExitCode.USAGE)
    loaded = load(config)
    quiet_logs(loaded)

    async def listing(runtime: Runtime) -> list[dict[str, Any]]:
        tools = list(runtime.gateway.catalog)
        if as_ is not None:
            tools = runtime.gateway.tools_for(runtime.authenticator.local_principal(as_), "cli")
        return render(tools, fmt)

    try:
        print_json(with_runtime(loaded, listing, read_only=True))
    except PasarelaError as exc:
        err.print(exc.detail, markup=False)
        raise typer.Exit(ExitCode.ERROR) from None


def _with_pins(loaded: LoadedConfig, work: Callable[[ToolPins], Awaitable[T]]) -> T:
    return with_state(loaded, lambda store: work(ToolPins(store)))


@tools_app.command("diff")
def tools_diff(
    name: Annotated[str, typer.Argument(help="The tool's name.")], config: ConfigOption = Path(DEFAULT_CONFIG)
) -> None:
    """Show how a quarantined tool's definition changed since it was approved."""
    loaded = load(config)
    quiet_logs(loaded)
    try:
        text = _with_pins(loaded, lambda pins: pins.diff(name))
    except KeyError:
        err.print(f"no tool named {name!r} has been pinned", markup=False)
        raise typer.Exit(ExitCode.ERROR) from None
    if text is None:
        err.print(f"{name}: no change is waiting for approval", markup=False)
        return
    sys.stdout.write(text)


@tools_app.command("approve")
def tools_approve(
    name: Annotated[str, typer.Argument(help="The tool's name.")], config: ConfigOption = Path(DEFAULT_CONFIG)
) -> None:
    """Accept a quarantined tool's new definition (running gateways serve it after a reload, SIGHUP, or a restart)."""
    loaded = load(config)
    quiet_logs(loaded)
    try:
        approved = _with_pins(loaded, lambda pins: pins.approve(name))
    except KeyError:
        err.print(f"no tool named {name!r} has been pinned", markup=False)
        raise typer.Exit(ExitCode.ERROR) from None
    err.print(f"{name}: {'approved' if approved else 'nothing to approve'}", markup=False)


@schemas_app.command("check")
def schemas_check(
    accept: Annotated[
        bool, typer.Option("--accept", help="Accept the current schemas as the reference for later checks.")
    ] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Compare each schema with its accepted version; exit 1 naming the tools a change breaks."""
    loaded = load(config)
    quiet_logs(loaded)
    try:
        registry = load_registry(loaded)
    except ConfigError as exc:
        raise fail_config(ConfigError(loaded.locate(exc.problems))) from None

    async def work(store: StateStore) -> list[SchemaReport]:
        pins = SchemaPins(store)
        reports = check_schemas(loaded.settings, registry, await pins.pinned())
        if accept:
            await pins.accept(registry)
        return reports

    reports = with_state(loaded, work)
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
        raise typer.Exit(ExitCode.NO)


@app.command()
def quotas(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Usage of every configured quota in its current period (UTC day or month)."""
    loaded = load(config)
    quiet_logs(loaded)
    settings = loaded.settings
    now = time.time()
    usage = with_state(loaded, lambda store: quota_report(settings, QuotaLedger(store), now))
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
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print a composite's step timeline (on stderr).")
    ] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Call one tool through the full pipeline; print the result (or the problem) as JSON."""
    arguments = _parse_args(args)
    loaded = load(config)
    quiet_logs(loaded)

    async def one_call(runtime: Runtime) -> tuple[ExitCode, dict[str, Any]]:
        try:
            principal = runtime.authenticator.local_principal(as_)
            outcome = await runtime.gateway.call(principal, tool, arguments, door=Door.CLI)
        except PasarelaError as exc:
            return ExitCode.NO, exc.to_problem()
        return ExitCode.OK, {"result": outcome.result, "meta": outcome.public_meta()}

    status, payload = with_runtime(loaded, one_call)
    sys.stdout.write(loaded.redactor.redact(jsonsafe.dumps(payload, indent=True).decode()) + "\n")
    if verbose:
        for line in step_timeline(payload.get("meta", {})):
            err.print(line, markup=False)
    raise typer.Exit(status)


def _parse_args(args: str) -> dict[str, Any]:
    try:
        arguments = orjson.loads(args)
    except orjson.JSONDecodeError as exc:
        err.print(f"--args: not valid JSON ({exc})", markup=False)
        raise typer.Exit(ExitCode.USAGE) from None
    if not isinstance(arguments, dict):
        err.print('--args: expected a JSON object, e.g. --args \'{"customer_id": "12345"}\'', markup=False)
        raise typer.Exit(ExitCode.USAGE)
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
        raise typer.Exit(ExitCode.USAGE) from None
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
    loaded = load(config)
    quiet_logs(loaded)

    async def explain(runtime: Runtime) -> dict[str, Any]:
        principal = replace(runtime.authenticator.local_principal(as_), on_behalf_of=user)
        spec = runtime.gateway.catalog.get(tool)
        decision = runtime.authorizer.explain(principal, spec, arguments, door=door)
        report = {"principal": principal.id, "tool": spec.name, **_decision_json(decision)}
        if decision.shadow is not None:
            report["shadow"] = _decision_json(decision.shadow)
        return report

    try:
        report = with_runtime(loaded, explain, read_only=True)
    except PasarelaError as exc:
        err.print(exc.detail, markup=False)
        raise typer.Exit(ExitCode.ERROR) from None
    print_json(report)
    raise typer.Exit(ExitCode.OK if report["decision"] == "allow" else ExitCode.NO)


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of pasarela.yaml (for editors)."""
    print_json(json_schema())


def main() -> None:
    app()
