"""A Grafana dashboard over Pasarela's metrics and the SLO rules (`pasarela observability dashboard`).

Import it in Grafana (Dashboards → New → Import); it asks for the Prometheus data source.
"""

from __future__ import annotations

from typing import Any

from pasarela import __version__

RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SERVER_ERRORS = "server_errors"  # replaced by the regular expression of 5xx problem codes

# (title, kind, unit, [(expression, legend)], width)
PANELS: tuple[tuple[str, str, str, list[tuple[str, str]], int], ...] = (
    (
        "Calls per second by backend",
        "timeseries",
        "reqps",
        [(f"sum by (backend) (rate(pasarela_tool_calls_total[{RATE}]))", "{{backend}}")],
        12,
    ),
    (
        "Error rate (5xx) by backend",
        "timeseries",
        "percentunit",
        [
            (
                f'sum by (backend) (rate(pasarela_tool_calls_total{{outcome=~"{SERVER_ERRORS}"}}[{RATE}])) '
                f"/ sum by (backend) (rate(pasarela_tool_calls_total[{RATE}]))",
                "{{backend}}",
            )
        ],
        12,
    ),
    (
        "Latency p50 / p95 / p99 by backend",
        "timeseries",
        "s",
        [
            (
                f"histogram_quantile({q}, sum by (le, backend) "
                f"(rate(pasarela_tool_call_duration_seconds_bucket[{RATE}])))",
                f"{{{{backend}}}} p{int(q * 100)}",
            )
            for q in (0.5, 0.95, 0.99)
        ],
        12,
    ),
    (
        "Cache hit rate by tool",
        "timeseries",
        "percentunit",
        [
            (
                f'sum by (tool) (rate(pasarela_cache_lookups_total{{result="hit"}}[{RATE}])) '
                f'/ sum by (tool) (rate(pasarela_cache_lookups_total{{result=~"hit|miss|stale"}}[{RATE}]))',
                "{{tool}}",
            )
        ],
        12,
    ),
    (
        "Tool-call success rate by agent",
        "timeseries",
        "percentunit",
        [
            (
                f'sum by (agent) (rate(pasarela_agent_calls_total{{outcome="ok"}}[{RATE}])) '
                f"/ sum by (agent) (rate(pasarela_agent_calls_total[{RATE}]))",
                "{{agent}}",
            )
        ],
        12,
    ),
    (
        "End-to-end latency p95 by agent",
        "timeseries",
        "s",
        [
            (
                f"histogram_quantile(0.95, sum by (le, agent) "
                f"(rate(pasarela_agent_call_duration_seconds_bucket[{RATE}])))",
                "{{agent}}",
            )
        ],
        12,
    ),
    (
        "Tool calls per MCP session",
        "stat",
        "none",
        [
            (
                'sum(increase(pasarela_agent_calls_total{door="mcp"}[$__range])) '
                "/ sum(increase(pasarela_mcp_sessions_opened_total[$__range]))",
                "calls per session",
            )
        ],
        6,
    ),
    (
        "Open circuit breakers",
        "stat",
        "none",
        [("sum(max by (backend) (pasarela_circuit_breaker_state) == bool 1)", "open")],
        6,
    ),
    (
        "SLO error budget remaining",
        "bargauge",
        "percentunit",
        [("pasarela:slo_error_budget_remaining", "{{slo}}")],
        12,
    ),
    (
        "SLO error ratio (1h) against the objective",
        "timeseries",
        "percentunit",
        [("pasarela:slo_error_ratio:rate1h", "{{slo}}"), ("1 - pasarela:slo_objective", "{{slo}} budget")],
        12,
    ),
    (
        "Cost per day by backend",
        "timeseries",
        "none",
        [("sum by (backend, currency) (increase(pasarela_cost_total[1d]))", "{{backend}} {{currency}}")],
        12,
    ),
    (
        "Cost by agent (dashboard range)",
        "bargauge",
        "none",
        [
            (
                "sum by (agent, currency) (increase(pasarela_agent_cost_total[$__range]))",
                "{{agent}} {{currency}}",
            )
        ],
        12,
    ),
)


def _panel(
    index: int, x: int, y: int, spec: tuple[str, str, str, list[tuple[str, str]], int]
) -> dict[str, Any]:
    title, kind, unit, queries, width = spec
    return {
        "id": index + 1,
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": width, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {"refId": chr(ord("A") + n), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for n, (expr, legend) in enumerate(queries)
        ],
    }


def dashboard(server_errors: str) -> dict[str, Any]:
    """The dashboard document; `server_errors` is the regular expression of 5xx problem codes."""
    panels, x, y = [], 0, 0
    for index, spec in enumerate(PANELS):
        width = spec[4]
        if x + width > 24:
            x, y = 0, y + 8
        panel = _panel(index, x, y, spec)
        for target in panel["targets"]:
            target["expr"] = target["expr"].replace(SERVER_ERRORS, server_errors)
        panels.append(panel)
        x += width
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "uid": "pasarela-overview",
        "title": "Pasarela",
        "description": f"Calls, errors, latency, cache, agents, SLOs and costs (Pasarela {__version__})",
        "tags": ["pasarela"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }
