"""Service level objectives as Prometheus recording and alerting rules.

Each `slo:` of a backend or tool becomes error ratios recorded over the windows the Google SRE
workbook's multi-window, multi-burn-rate alerts read (chapter 5, "Alerting on SLOs"): for a 30-day
window, page when 2 % of the budget burns in an hour (14.4×, checked over 1h and 5m) or 5 % in six
hours (6×, over 6h and 30m), and open a ticket when 10 % burns in three days (1×, over 3d and 6h).
Windows other than 30 days scale the burn rates so the same budget shares trigger them.

SLIs, from the gateway's own metrics (telemetry/metrics.py):
- availability: calls failed by the gateway or backend (a 5xx problem) among the ok and failed;
- error_rate: 5xx problems among all calls;
- latency: calls slower than the threshold (a histogram bucket bound) among all calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pasarela.config.model import Settings
from pasarela.config.observability import SloSettings
from pasarela.telemetry.kpis import STATUSES

SHORT_WINDOWS = ("5m", "30m", "1h", "6h", "3d")
# (severity, long window, short window, hours of the long window, share of the budget it burns)
ALERTS = (
    ("page", "1h", "5m", 1.0, 0.02),
    ("page", "6h", "30m", 6.0, 0.05),
    ("ticket", "3d", "6h", 72.0, 0.10),
)
CALLS = "pasarela_tool_calls_total"
NOT_CALLS = frozenset({"config_error", "startup_failed"})  # problems of start-up, never of a call
DURATION = "pasarela_tool_call_duration_seconds"


@dataclass(frozen=True, slots=True)
class Objective:
    """One SLI of one backend or tool, with what is allowed to go wrong."""

    subject: str  # "backend" | "tool"
    name: str
    sli: str  # availability | error_rate | latency
    target: float  # the share that must go right, e.g. 0.999
    window: float  # seconds
    threshold: float | None = None  # latency: seconds

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.name}/{self.sli}"

    @property
    def budget(self) -> float:
        return 1.0 - self.target

    @property
    def window_text(self) -> str:
        days, rest = divmod(int(self.window), 86400)
        return f"{days}d" if not rest else f"{int(self.window // 3600)}h"

    def labels(self) -> dict[str, str]:
        return {"slo": self.key, "sli": self.sli, self.subject: self.name}


def objectives(settings: Settings) -> list[Objective]:
    """Every objective of `backends.<name>.slo` and `tools.<name>.slo`, in configuration order."""
    found: list[Objective] = []
    for subject, items in (
        ("backend", [(name, b.slo) for name, b in settings.backends.items()]),
        ("tool", [(name, t.slo) for name, t in settings.tools.items()]),
    ):
        for name, slo in items:
            if slo is not None:
                found.extend(_objectives(subject, name, slo))
    return found


def _objectives(subject: str, name: str, slo: SloSettings) -> Iterator[Objective]:
    if slo.availability is not None:
        yield Objective(subject, name, "availability", slo.availability / 100, slo.window)
    if slo.error_rate is not None:
        yield Objective(subject, name, "error_rate", 1 - slo.error_rate / 100, slo.window)
    if slo.latency is not None:
        yield Objective(
            subject, name, "latency", slo.latency.percentile / 100, slo.window, slo.latency.threshold
        )


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def server_error_codes() -> str:
    """The problem codes of 5xx answers, as a regular expression for `outcome=~`."""
    return "|".join(
        sorted(code for code, status in STATUSES.items() if status >= 500 and code not in NOT_CALLS)
    )


def error_ratio(objective: Objective, window: str) -> str:
    """PromQL: the share of bad events among valid ones over `window`."""
    subject = f"{objective.subject}={_quoted(objective.name)}"
    if objective.sli == "latency":
        assert objective.threshold is not None
        bound = repr(float(objective.threshold))  # as prometheus_client writes `le` (0.5, 1.0, 2.5)
        fast = f'sum(rate({DURATION}_bucket{{{subject},le="{bound}"}}[{window}]))'
        return f"1 - ({fast} / sum(rate({DURATION}_count{{{subject}}}[{window}])))"
    failed = f'sum(rate({CALLS}{{{subject},outcome=~"{server_error_codes()}"}}[{window}]))'
    if objective.sli == "availability":
        valid = f'sum(rate({CALLS}{{{subject},outcome=~"ok|{server_error_codes()}"}}[{window}]))'
    else:
        valid = f"sum(rate({CALLS}{{{subject}}}[{window}]))"
    return f"{failed} / {valid}"


def _selector(objective: Objective) -> str:
    return "{" + f"slo={_quoted(objective.key)}" + "}"


def rule_groups(settings: Settings) -> dict[str, Any]:
    """Prometheus rule groups (the document `promtool check rules` reads)."""
    groups: list[dict[str, Any]] = []
    for objective in objectives(settings):
        windows = (*SHORT_WINDOWS, objective.window_text)
        recording = [
            {
                "record": f"pasarela:slo_error_ratio:rate{window}",
                "expr": error_ratio(objective, window),
                "labels": objective.labels(),
            }
            for window in dict.fromkeys(windows)
        ]
        recording.append(
            {
                "record": "pasarela:slo_error_budget_remaining",
                "expr": f"1 - (pasarela:slo_error_ratio:rate{objective.window_text}{_selector(objective)} "
                f"/ {objective.budget:.6g})",
                "labels": objective.labels(),
            }
        )
        recording.append(
            {
                "record": "pasarela:slo_objective",
                "expr": f"vector({objective.target:.6g})",
                "labels": objective.labels(),
            }
        )
        groups.append(
            {
                "name": f"pasarela-slo-{objective.key.replace('/', '-')}",
                "rules": recording + _alerts(objective),
            }
        )
    return {"groups": groups}


def _alerts(objective: Objective) -> list[dict[str, Any]]:
    hours = objective.window / 3600
    alerts: list[dict[str, Any]] = []
    for severity in ("page", "ticket"):
        conditions = []
        for level, long, short, long_hours, share in ALERTS:
            if level != severity:
                continue
            burn = share * hours / long_hours
            limit = f"({burn:.6g} * {objective.budget:.6g})"
            selector = _selector(objective)
            conditions.append(
                f"(pasarela:slo_error_ratio:rate{long}{selector} > {limit} "
                f"and pasarela:slo_error_ratio:rate{short}{selector} > {limit})"
            )
        what = {"availability": "availability", "error_rate": "error rate", "latency": "latency"}[
            objective.sli
        ]
        alerts.append(
            {
                "alert": "PasarelaErrorBudgetBurn",
                "expr": " or ".join(conditions),
                "for": "2m" if severity == "page" else "15m",
                "labels": {**objective.labels(), "severity": severity},
                "annotations": {
                    "summary": f"{objective.subject} {objective.name} is burning its {what} error budget",
                    "description": f"{objective.subject} {objective.name}: the {what} objective "
                    f"({objective.target * 100:.6g} % over {objective.window_text}) would be missed at this rate",
                },
            }
        )
    return alerts
