"""`pasarela kpis`: the KPIs of recent calls, from the durable audit trail."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pasarela.commands.common import ConfigOption, ExitCode, err, load, print_json, quiet_logs, with_state
from pasarela.config import DEFAULT_CONFIG
from pasarela.config.durations import parse_duration
from pasarela.telemetry.kpis import KpiReport, compute_kpis

SinceOption = Annotated[str, typer.Option("--since", help="How far back: 30m, 24h, 7d …")]


def since_seconds(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        err.print(f"--since: {exc}", markup=False)
        raise typer.Exit(ExitCode.USAGE) from None
    if seconds <= 0:
        err.print("--since: expected a positive duration such as 24h", markup=False)
        raise typer.Exit(ExitCode.USAGE)
    return seconds


def kpis(
    since: SinceOption = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON document.")] = False,
    config: ConfigOption = Path(DEFAULT_CONFIG),
) -> None:
    """Availability, error rate, latency and cache hit rate per backend and tool; success rate,
    latency, tools per MCP session and per conversation per agent — from the audit trail (every
    replica, every restart)."""
    window = since_seconds(since)
    loaded = load(config)
    quiet_logs(loaded)
    start = time.time() - window
    report = with_state(loaded, lambda store: compute_kpis(store, start))
    if as_json:
        print_json(report.as_json())
        return
    sys.stdout.write(render(report, since))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _line(name: str, figures: dict[str, Any]) -> str:
    latency = figures["latency_ms"]
    return (
        f"  {name:<32} {figures['calls']:>7} {_pct(figures['availability']):>9} "
        f"{_pct(figures['error_rate']):>8} {_ms(latency['p50']):>8} {_ms(latency['p95']):>8} "
        f"{_ms(latency['p99']):>8} {_pct(figures['cache_hit_rate']):>8}\n"
    )


def render(report: KpiReport, since: str) -> str:
    if not report.records:
        return f"no calls audited in the last {since}\n"
    head = f"  {'':<32} {'calls':>7} {'avail':>9} {'errors':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'cache':>8}\n"
    text = [f"KPIs of the last {since} ({report.records} audited calls)\n\nbackends\n", head]
    text += [_line(name, figures) for name, figures in report.backends.items()]
    text += ["\ntools\n", head]
    text += [_line(f"{name} ({f['backend']})", f) for name, f in report.tools.items()]
    text.append(
        f"\nagents\n  {'':<32} {'calls':>7} {'success':>9} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'sessions':>9} {'calls/session':>14} {'conversations':>14} {'calls/conv.':>12}\n"
    )
    for name, figures in report.agents.items():
        latency = figures["latency_ms"]
        text.append(
            f"  {name:<32} {figures['calls']:>7} {_pct(figures['success_rate']):>9} {_ms(latency['p50']):>8} "
            f"{_ms(latency['p95']):>8} {figures['mcp_sessions']:>9} {_n(figures['tool_calls_per_session']):>14} "
            f"{figures['conversations']:>14} {_n(figures['tool_calls_per_conversation']):>12}\n"
        )
    return "".join(text)


def _n(value: float | None) -> str:
    return "-" if value is None else str(value)
