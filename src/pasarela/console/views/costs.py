"""Costs: showback of the window by agent, role, backend and tool, and spend per day."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime

from starlette.responses import Response

from pasarela.console.charts import bar, bar_chart
from pasarela.console.core import Visit
from pasarela.console.render import page
from pasarela.costs.showback import DIMENSIONS, Spend, showback

WINDOWS = {"7d": 7, "30d": 30, "90d": 90}


async def costs(visit: Visit) -> Response:
    window = visit.request.query_params.get("since", "30d")
    if window not in WINDOWS:
        window = "30d"
    first = datetime.fromtimestamp(time.time() - WINDOWS[window] * 86400, UTC).strftime("%Y-%m-%d")
    report = await showback(visit.runtime.state, first, "day")
    totals: dict[str, dict[tuple[str, str], Spend]] = {d: defaultdict(Spend) for d in DIMENSIONS}
    days: dict[tuple[str, str], Spend] = defaultdict(Spend)
    for day, dimensions in sorted(report.periods.items()):
        for dimension in DIMENSIONS:
            for key, spend in dimensions[dimension].items():
                totals[dimension][key].add(spend.calls, spend.amount, spend.units, spend.seconds)
        for (_, currency), spend in dimensions["agent"].items():
            days[(day, currency)].add(spend.calls, spend.amount, spend.units, spend.seconds)
    ranked = {
        dimension: sorted(entries.items(), key=lambda item: -item[1].amount)
        for dimension, entries in totals.items()
    }
    return page(
        visit,
        "costs.html",
        window=window,
        windows=list(WINDOWS),
        ranked=ranked,
        days=sorted(days.items()),
        agent_chart=bar_chart(
            [
                bar(f"{name} ({currency})", s.amount, f"{s.amount:,.2f}")
                for (name, currency), s in ranked["agent"]
            ],
            title="Spend by agent",
        ),
        backend_chart=bar_chart(
            [
                bar(f"{name} ({currency})", s.amount, f"{s.amount:,.2f}")
                for (name, currency), s in ranked["backend"]
            ],
            title="Spend by backend",
        ),
    )
