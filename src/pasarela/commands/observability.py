"""`pasarela observability rules|dashboard`: Prometheus rules for the SLOs, a Grafana dashboard."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
import yaml

from pasarela.commands.common import ConfigOption, load, print_json, quiet_logs
from pasarela.config import DEFAULT_CONFIG
from pasarela.telemetry.dashboard import dashboard
from pasarela.telemetry.slo import objectives, rule_groups, server_error_codes

observability_app = typer.Typer(
    help="SLO rules and dashboards for Prometheus and Grafana.", no_args_is_help=True
)


@observability_app.command("rules")
def rules(config: ConfigOption = Path(DEFAULT_CONFIG)) -> None:
    """Prometheus recording and alerting rules for every `slo:` (check them with `promtool check rules`)."""
    loaded = load(config)
    quiet_logs(loaded)
    if not objectives(loaded.settings):
        typer.echo("# no slo: in the configuration (backends.<name>.slo or tools.<name>.slo)", err=True)
    sys.stdout.write(yaml.safe_dump(rule_groups(loaded.settings), sort_keys=False, width=1000))


@observability_app.command("dashboard")
def grafana_dashboard() -> None:
    """A Grafana dashboard (JSON) over Pasarela's metrics and the SLO rules."""
    print_json(dashboard(server_error_codes()))
