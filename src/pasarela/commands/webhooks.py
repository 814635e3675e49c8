"""`pasarela webhooks`: the outbox's deliveries and their attempts, sending one again, and
enabling an endpoint that answered 410 Gone."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pasarela import jsonsafe
from pasarela.commands.common import ConfigOption, ExitCode, err, load, print_json, quiet_logs, with_state
from pasarela.config import DEFAULT_CONFIG
from pasarela.state import StateStore
from pasarela.webhooks import history
from pasarela.webhooks.endpoint_state import disabled_endpoints, enable_endpoint
from pasarela.webhooks.outbox import STATUSES

webhooks_app = typer.Typer(help="Webhook deliveries (webhooks: in the configuration).", no_args_is_help=True)


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _line(row: dict[str, Any]) -> str:
    last = f" last={row['last_status'] or row['last_error'] or '-'}" if row["attempts"] else ""
    due = f" next={_when(row['next_attempt_at'])}" if row["status"] == "pending" else ""
    return (
        f"{row['id']} {_when(row['created_at'])} {row['endpoint']} {row['event_type']} {row['status']} "
        f"attempts={row['attempts']}{last}{due} webhook-id={row['message_id']}"
    )


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint: Annotated[str | None, typer.Option(help="Only this endpoint.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, delivered, failed or disabled.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (the most recent).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """The most recent deliveries, newest first."""
    if status is not None and status not in STATUSES:
        err.print(f"--status: expected one of {', '.join(STATUSES)}, got {status!r}", markup=False)
        raise typer.Exit(ExitCode.USAGE)
    loaded = load(config)
    quiet_logs(loaded)
    rows = with_state(
        loaded,
        lambda store: history.deliveries(store, endpoint=endpoint, status=status, limit=limit),
        schema="read",  # looking creates nothing
    )
    for row in rows:
        sys.stdout.write((jsonsafe.dumps(row).decode() if as_json else _line(row)) + "\n")
    if not rows and not as_json:
        err.print("no deliveries", markup=False)


@webhooks_app.command("show")
def webhooks_show(
    delivery_id: Annotated[str, typer.Argument(metavar="ID", help="The delivery's id (whd_…).")],
    as_json: Annotated[bool, typer.Option("--json", help="As one JSON document.")] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """One delivery: what was sent, and every attempt."""
    loaded = load(config)
    quiet_logs(loaded)
    found = with_state(loaded, lambda store: history.delivery(store, delivery_id), schema="read")
    if found is None:
        err.print(f"no delivery {delivery_id!r}", markup=False)
        raise typer.Exit(ExitCode.ERROR)
    if as_json:
        print_json(found)
        return
    lines = [_line(found), f"body: {found['body']}"]
    if found["delivered_at"] is not None:
        lines.append(f"delivered: {_when(found['delivered_at'])}")
    for number, attempt in enumerate(found["attempt_log"], 1):
        answer = attempt["status_code"] if attempt["status_code"] is not None else "no answer"
        error = f" {attempt['error']}" if attempt["error"] else ""
        lines.append(f"  #{number} {_when(attempt['at'])} {answer} {attempt['duration_ms']:.1f} ms{error}")
    sys.stdout.write("\n".join(lines) + "\n")


@webhooks_app.command("redeliver")
def webhooks_redeliver(
    delivery_id: Annotated[str, typer.Argument(metavar="ID", help="The delivery's id (whd_…).")],
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Send a delivery again (same webhook-id), with a fresh round of the retry schedule."""
    loaded = load(config)
    quiet_logs(loaded)
    configured = loaded.settings.webhooks.endpoints

    async def work(store: StateStore) -> str | None:
        found = await history.delivery(store, delivery_id)
        if found is None:
            return f"no delivery {delivery_id!r}"
        name = found["endpoint"]
        if name not in configured:
            return f"{delivery_id}: its endpoint {name!r} is no longer in webhooks.endpoints"
        async with store.engine.connect() as db:
            off = (await disabled_endpoints(db)).get(name)
        if off is not None:
            return f"{delivery_id}: endpoint {name} is disabled ({off.reason}); run `pasarela webhooks enable {name}`"
        await history.redeliver(store, delivery_id, time.time())
        return None

    problem = with_state(loaded, work)
    if problem is not None:
        err.print(problem, markup=False)
        raise typer.Exit(ExitCode.ERROR)
    err.print(f"{delivery_id}: pending, due now", markup=False)


@webhooks_app.command("enable")
def webhooks_enable(
    name: Annotated[str, typer.Argument(help="The endpoint's name in webhooks.endpoints.")],
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Enable an endpoint disabled by a 410 Gone; its deliveries that waited are sent."""
    loaded = load(config)
    quiet_logs(loaded)
    if name not in loaded.settings.webhooks.endpoints:
        err.print(f"no endpoint named {name!r} in webhooks.endpoints", markup=False)
        raise typer.Exit(ExitCode.ERROR)
    was_disabled, requeued = with_state(loaded, lambda store: enable_endpoint(store, name, time.time()))
    state = "enabled" if was_disabled else "was not disabled"
    err.print(f"{name}: {state}; {requeued} delivery(ies) pending again", markup=False)
