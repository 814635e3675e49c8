"""SLO rules checked and exercised by promtool, and the Grafana dashboard's structure."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml

from pasarela.config import LoadedConfig, load_config_text
from pasarela.errors import ConfigError
from pasarela.telemetry.dashboard import dashboard
from pasarela.telemetry.metrics import GatewayMetrics
from pasarela.telemetry.slo import objectives, rule_groups, server_error_codes
from tests.conftest import need_service
from tests.helpers.processes import run_pasarela

CONFIG = """\
version: 1
state: sqlite:///./state.db
backends:
  py:
    python: tests.connectors.sample_tools
    slo: {availability: 99.9, latency: {percentile: 95, threshold: 500ms}, error_rate: 0.5}
tools:
  greet:
    slo: {latency: {percentile: 99, threshold: 1s}, window: 7d}
access: {}
"""


def loaded(text: str) -> LoadedConfig:
    return load_config_text(text, source="pasarela.yaml", base_dir=Path.cwd())


def promtool() -> str:
    found = shutil.which("promtool")
    need_service(None if found else "promtool is not installed (Debian: apt-get install prometheus)")
    assert found is not None
    return found


def written(tmp_path: Path, name: str, document: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    return path


def test_each_objective_is_read_from_backends_and_tools() -> None:
    found = objectives(loaded(CONFIG).settings)
    assert [(o.key, round(o.budget, 6), o.window_text) for o in found] == [
        ("backend/py/availability", 0.001, "30d"),
        ("backend/py/error_rate", 0.005, "30d"),
        ("backend/py/latency", 0.05, "30d"),
        ("tool/greet/latency", 0.01, "7d"),
    ]


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        ("{latency: {percentile: 95, threshold: 300ms}}", "300ms is not a bound of the latency histogram"),
        ("{availability: 99.9, window: 1d}", "expected a window from 7d to 90d"),
        ("{window: 30d}", "expected at least one objective"),
        ("{availability: 100}", "less than 100"),
    ],
)
def test_a_wrong_objective_is_refused_with_its_key_path(slo: str, message: str) -> None:
    text = CONFIG.replace(
        "slo: {availability: 99.9, latency: {percentile: 95, threshold: 500ms}, error_rate: 0.5}",
        f"slo: {slo}",
    )
    with pytest.raises(ConfigError) as caught:
        loaded(text)
    problems = [str(p) for p in caught.value.problems]
    assert any("backends.py" in p and message in p for p in problems), problems


def test_the_rules_pass_promtool(tmp_path: Path) -> None:
    tool = promtool()
    (tmp_path / "pasarela.yaml").write_text(CONFIG)
    printed = run_pasarela("observability", "rules", "-c", str(tmp_path / "pasarela.yaml"))
    assert printed.returncode == 0, printed.stderr
    rules = tmp_path / "rules.yml"
    rules.write_text(printed.stdout)
    checked = subprocess.run(
        [tool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 40 rules found" in checked.stdout
    alerts = [r for g in yaml.safe_load(printed.stdout)["groups"] for r in g["rules"] if "alert" in r]
    assert {a["labels"]["severity"] for a in alerts} == {"page", "ticket"}
    page = next(
        a
        for a in alerts
        if a["labels"]["slo"] == "backend/py/availability" and a["labels"]["severity"] == "page"
    )
    assert "rate1h" in page["expr"] and "rate5m" in page["expr"] and "(14.4 * 0.001)" in page["expr"]
    assert "rate6h" in page["expr"] and "rate30m" in page["expr"] and "(6 * 0.001)" in page["expr"]
    weekly = next(
        a for a in alerts if a["labels"]["slo"] == "tool/greet/latency" and a["labels"]["severity"] == "page"
    )
    assert "(3.36 * 0.01)" in weekly["expr"], "a 7-day window scales the burn rate (2 % of the budget in 1h)"


def test_the_fast_burn_alert_fires_when_errors_burn_the_budget_and_not_otherwise(tmp_path: Path) -> None:
    """promtool runs the rules over synthetic series: 5 % of calls failing pages; 0.05 % does not."""
    tool = promtool()
    settings = loaded(CONFIG.replace("error_rate: 0.5", "error_rate: 50")).settings
    rules = written(tmp_path, "rules.yml", rule_groups(settings))
    series = 'pasarela_tool_calls_total{{backend="py",tool="greet",door="rest",outcome="{outcome}"}}'
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series.format(outcome="ok"), "values": "0+950x120"},
                    {"series": series.format(outcome="upstream_error"), "values": "0+50x120"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "100m",
                        "alertname": "PasarelaErrorBudgetBurn",
                        # Both fire: the ticket's 3-day window holds only these 100 minutes.
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "slo": "backend/py/availability",
                                    "sli": "availability",
                                    "backend": "py",
                                    "severity": severity,
                                },
                                "exp_annotations": {
                                    "summary": "backend py is burning its availability error budget",
                                    "description": "backend py: the availability objective (99.9 % over 30d) "
                                    "would be missed at this rate",
                                },
                            }
                            for severity in ("page", "ticket")
                        ],
                    }
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    {"series": series.format(outcome="ok"), "values": "0+9995x120"},
                    {"series": series.format(outcome="upstream_error"), "values": "0+5x120"},
                    {"series": series.format(outcome="denied"), "values": "0+500x120"},
                ],
                "alert_rule_test": [
                    {"eval_time": "100m", "alertname": "PasarelaErrorBudgetBurn", "exp_alerts": []}
                ],
            },
        ],
    }
    checked = subprocess.run(
        [tool, "test", "rules", str(written(tmp_path, "tests.yml", tests))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_is_grafana_json_over_known_metrics(tmp_path: Path) -> None:
    printed = run_pasarela("observability", "dashboard")
    assert printed.returncode == 0, printed.stderr
    board = orjson.loads(printed.stdout)
    assert board == orjson.loads(orjson.dumps(dashboard(server_error_codes())))
    assert (board["uid"], board["title"], board["schemaVersion"]) == ("pasarela-overview", "Pasarela", 39)
    assert board["__inputs"][0]["pluginId"] == "prometheus"
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels) >= 10
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        assert panel["type"] in {"timeseries", "stat", "bargauge"}
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert [t["refId"] for t in panel["targets"]] == [chr(65 + n) for n in range(len(panel["targets"]))]
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    exported = {m.name for m in GatewayMetrics().registry.collect()}
    used = {
        name
        for expr in exprs
        for name in exported
        if name in expr.replace("_total", "").replace("_bucket", "").replace("_count", "")
    }
    assert {"pasarela_tool_calls", "pasarela_tool_call_duration_seconds", "pasarela_agent_calls"} <= used
    assert {"pasarela_cache_lookups", "pasarela_cost", "pasarela_mcp_sessions_opened"} <= used
    assert any("pasarela:slo_error_budget_remaining" in e for e in exprs), "the SLO rules' series"
    # Every query parses as PromQL: promtool reads them as recording rules.
    if shutil.which("promtool") or __import__("os").environ.get("CI") == "true":
        tool = promtool()
        as_rules = {
            "groups": [
                {
                    "name": "dashboard",
                    "rules": [
                        {
                            "record": f"dashboard:query:{n}",
                            "expr": e.replace("$__rate_interval", "5m").replace("$__range", "1d"),
                        }
                        for n, e in enumerate(exprs)
                    ],
                }
            ]
        }
        path = written(tmp_path, "dashboard.yml", as_rules)
        checked = subprocess.run(
            [tool, "check", "rules", str(path)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
