"""The demo's events fitted to the run: PostgreSQL's log with `--postgres`, polling otherwise, and
a configuration that still loads when the `cloudevents` package is missing."""

from __future__ import annotations

import pytest
import yaml

from pasarela.config.loader import load_config_text
from pasarela.demo import events, runner

SECRETS = {
    "PASARELA_SECRET_DEMO_TRANSACTIONS_DB": "sqlite:///x.db",
    "PASARELA_SECRET_DEMO_WEBHOOK_SECRET": "whsec_" + "a" * 44,
    "PASARELA_SECRET_DEMO_CRM_EVENTS_SECRET": "whsec_" + "b" * 44,
} | {
    f"PASARELA_SECRET_DEMO_{name}": "x"
    for name in (
        "SUPPORT_BOT_KEY", "SUPPORT_BOT_US_KEY", "SALES_BOT_KEY", "COMPLIANCE_BOT_KEY", "OPS_ADMIN_KEY", "CRM_API_KEY",
        "TICKETING_TOKEN", "CORE_BANKING_PASSWORD", "LOANS_TOKEN", "CREDIT_BUREAU_KEY", "REPORTS_TOKEN",
        "AUDIT_KEY", "PRODUCT_ADVISOR_TOKEN", "PRICING_TOKEN",
    )
}  # fmt: skip


def demo_data() -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load(runner.config_path().read_text(encoding="utf-8"))
    return data


def load(data: dict[str, object]) -> object:
    path = runner.config_path()
    text = yaml.safe_dump(data, sort_keys=False)
    return load_config_text(text, source=str(path), base_dir=path.parent, environ=SECRETS).settings


def test_polling_by_default_and_the_postgresql_log_with_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(events.CDC, raising=False)
    polled = load(events.wired(demo_data())).events.sources["transactions"]  # type: ignore[attr-defined]
    assert (polled.kind, polled.sql_polling.snapshot) == ("sql_polling", False)
    monkeypatch.setenv(events.CDC, "postgres")
    logged = load(events.wired(demo_data())).events.sources["transactions"]  # type: ignore[attr-defined]
    assert logged.kind == "postgres_cdc"
    assert (logged.postgres_cdc.slot, logged.postgres_cdc.tables) == (events.SLOT, ["bank_transactions"])


def test_without_cloudevents_the_demo_runs_without_events() -> None:
    settings = load(events.without_events(demo_data()))
    assert not settings.events.sources  # type: ignore[attr-defined]
    assert settings.webhooks.endpoints["compliance-inbox"].events == ["job.*"]  # type: ignore[attr-defined]
    assert not settings.tools["get_customer_info"].cache.invalidate_on  # type: ignore[attr-defined]
    assert "update_customer_contact" in settings.access["customer_support"]  # type: ignore[attr-defined]
