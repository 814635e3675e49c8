"""Overview: live KPIs of the window chosen — calls, errors and p95 by backend, cache hit rate,
top agents, SLO budgets."""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from pasarela.console.budgets import Budget, budgets
from pasarela.console.charts import Bar, bar, bar_chart
from pasarela.console.core import Visit
from pasarela.console.render import page, pct
from pasarela.jobs import JobStore
from pasarela.telemetry.kpis import compute_kpis
from pasarela.telemetry.slo import objectives

WINDOWS = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
TOP_AGENTS = 10
REFRESH_SECONDS = 15


async def overview(visit: Visit) -> Response:
    window = visit.request.query_params.get("since", "24h")
    if window not in WINDOWS:
        window = "24h"
    runtime = visit.runtime
    report = await compute_kpis(runtime.state, time.time() - WINDOWS[window])
    found = await budgets(runtime.state, objectives(runtime.config.settings))
    queued, oldest = await JobStore(runtime.state, max_active=1).depth()
    backends = report.backends
    return page(
        visit,
        "overview.html",
        window=window,
        windows=list(WINDOWS),
        refresh=REFRESH_SECONDS,
        report=report,
        totals=_totals(report.agents),
        tiles={
            "tools served": len(runtime.gateway.catalog),
            "quarantined": len(runtime.gateway.catalog.quarantined()),
            "jobs queued": queued,
            "audit writer": "healthy" if runtime.audit is None or runtime.audit.healthy else "stalled",
        },
        oldest_job=oldest,
        calls_chart=bar_chart(
            [
                Bar(
                    name,
                    ((f["ok"], "ok"), (f["client_errors"], "warn"), (f["server_errors"], "bad")),
                    f"{f['calls']} · {f['server_errors']} err",
                )
                for name, f in backends.items()
            ],
            title="Calls by backend (ok, refused, failed)",
        ),
        p95_chart=bar_chart(
            [bar(name, f["latency_ms"]["p95"], _ms(f["latency_ms"]["p95"])) for name, f in backends.items()],
            title="p95 latency by backend",
        ),
        cache_chart=bar_chart(
            [
                bar(name, f["cache_hit_rate"], pct(f["cache_hit_rate"]))
                for name, f in report.tools.items()
                if f["cache_hit_rate"] is not None
            ],
            title="Cache hit rate by tool",
            scale=1.0,
        ),
        agents_chart=bar_chart(
            [
                Bar(
                    name,
                    ((f["ok"], "ok"), (f["calls"] - f["ok"], "bad")),
                    f"{f['calls']} · {pct(f['success_rate'])}",
                )
                for name, f in sorted(report.agents.items(), key=lambda a: -a[1]["calls"])[:TOP_AGENTS]
            ],
            title="Top agents by calls (ok, not ok)",
        ),
        budgets=found,
        budget_chart=bar_chart([_budget_bar(b) for b in found], title="SLO error budget left", scale=1.0),
    )


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def _budget_bar(budget: Budget) -> Bar:
    left = budget.remaining
    css = "ok" if left is None or left > 0.5 else "warn" if left > 0.1 else "bad"
    text = "no calls" if left is None else f"{left * 100:.0f} % left"
    return bar(
        f"{budget.objective.name} {budget.objective.sli}", left if left is not None else 0.0, text, css
    )


def _totals(agents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    calls = sum(f["calls"] for f in agents.values())
    ok = sum(f["ok"] for f in agents.values())
    failed = sum(f["server_errors"] for f in agents.values())
    return {
        "calls": calls,
        "success_rate": ok / calls if calls else None,
        "error_rate": failed / calls if calls else None,
    }
