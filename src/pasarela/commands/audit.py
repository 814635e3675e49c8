"""`pasarela audit`: verify the chain (and its anchors), tail and search the trail."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pasarela import jsonsafe
from pasarela.audit import search, verify
from pasarela.audit.anchors import AnchorFileError, read_anchors
from pasarela.audit.reader import Verdict, count_records
from pasarela.commands.common import ConfigOption, ExitCode, err, load, quiet_logs, with_state
from pasarela.commands.progress import progress_bar
from pasarela.config import DEFAULT_CONFIG
from pasarela.state import StateStore

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


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
def audit_verify(
    anchors: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchors",
            help="Anchor file(s) of signed heads kept outside the database (default: audit.anchor_file).",
        ),
    ] = None,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Check the whole chain, and against the anchors; exit 1 naming the first bad record."""
    loaded = load(config)
    quiet_logs(loaded)
    settings = loaded.settings.audit
    key = settings.checkpoint_key.get_secret_value().encode() if settings.checkpoint_key else None
    files = list(anchors or ([loaded.resolve_path(settings.anchor_file)] if settings.anchor_file else []))
    try:
        heads = read_anchors(files)
    except AnchorFileError as exc:
        err.print(f"audit: TAMPERED? — {exc}", markup=False)
        raise typer.Exit(ExitCode.NO) from None

    async def check(store: StateStore) -> Verdict:
        with progress_bar(err, "Verifying the audit chain") as bar:
            if err.is_terminal:
                bar.total(await count_records(store))
            return await verify(store, key, heads, on_record=bar.advance)

    verdict = with_state(loaded, check)
    if verdict.ok:
        err.print(f"audit: OK — {verdict.message}", markup=False)
        return
    err.print(f"audit: TAMPERED — {verdict.message}", markup=False)
    raise typer.Exit(ExitCode.NO)


@audit_app.command("tail")
def audit_tail(
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many records.")] = 20,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """The most recent records, oldest first."""
    loaded = load(config)
    quiet_logs(loaded)
    for record in with_state(loaded, lambda store: search(store, limit=lines)):
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
    loaded = load(config)
    quiet_logs(loaded)
    bounds = [_timestamp(option, value) for option, value in (("--since", since), ("--until", until))]
    records = with_state(
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
        sys.stdout.write((jsonsafe.dumps(record).decode() if as_json else _audit_line(record)) + "\n")


def _timestamp(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        err.print(f"{option}: expected an ISO time such as 2026-11-22T09:00, got {value!r}", markup=False)
        raise typer.Exit(ExitCode.USAGE) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
