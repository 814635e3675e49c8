"""`pasarela costs`: showback by agent, role, backend and tool, per UTC day or month."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from pasarela.commands.common import ConfigOption, ExitCode, err, load, print_json, quiet_logs, with_state
from pasarela.commands.kpis import since_seconds
from pasarela.config import DEFAULT_CONFIG
from pasarela.costs.showback import DIMENSIONS, Showback, showback


def costs(
    since: Annotated[str, typer.Option("--since", help="How far back: 7d, 30d, 90d …")] = "30d",
    by: Annotated[str, typer.Option("--by", help="day | month")] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON document.")] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """What calls cost (`cost:` of backends and tools), by agent, role, backend and tool."""
    if by not in ("day", "month"):
        err.print(f"--by: expected day or month, got {by!r}", markup=False)
        raise typer.Exit(ExitCode.USAGE)
    window = since_seconds(since)
    loaded = load(config)
    quiet_logs(loaded)
    first = datetime.fromtimestamp(time.time() - window, UTC).strftime("%Y-%m-%d")
    report = with_state(loaded, lambda store: showback(store, first, by))  # type: ignore[arg-type]
    if as_json:
        print_json(report.as_json())
        return
    sys.stdout.write(render(report))


def render(report: Showback) -> str:
    if not report.periods:
        return f"no costs recorded since {report.since} (cost: in backends.<name> or tools.<name>)\n"
    lines: list[str] = []
    for period, dimensions in sorted(report.periods.items()):
        lines.append(f"{period}\n")
        for dimension in DIMENSIONS:
            lines.append(f"  by {dimension}\n")
            entries = sorted(dimensions[dimension].items(), key=lambda e: -e[1].amount)
            for (name, currency), spend in entries:
                lines.append(f"    {name:<32} {spend.amount:>14.4f} {currency}  {spend.calls:>7} calls\n")
    return "".join(lines)
