"""How the demo's events are wired for the run at hand: the transactions source follows
PostgreSQL's log (logical decoding) when the demo keeps its transactions there, and polls SQLite
otherwise; without the `cloudevents` package the demo runs without events, and says how to add them."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

CDC = "PASARELA_DEMO_TRANSACTIONS_CDC"  # "postgres": set by `pasarela demo --postgres`
SLOT = "pasarela_demo_tx"  # the replication slot and the publication on the transactions database
NOTICE = "events (CRM webhooks, transaction CDC) need the cloudevents package: pip install 'pasarela[events]' to run them too\n"


def available() -> bool:
    return importlib.util.find_spec("cloudevents") is not None


def wired(data: dict[str, Any]) -> dict[str, Any]:
    """The demo configuration (parsed) with its event sources fitted to this run."""
    if not available():
        return without_events(data)
    if os.environ.get(CDC) == "postgres":
        transactions = data["events"]["sources"]["transactions"]
        polling = transactions.pop("sql_polling")
        transactions["postgres_cdc"] = {
            "url": polling["url"],
            "slot": SLOT,
            "publication": SLOT,
            "tables": [polling["table"]],
        }
    return data


def without_events(data: dict[str, Any]) -> dict[str, Any]:
    """No sources, no event policies (they name event types no source makes), no event webhooks."""
    data.pop("events", None)
    data["policies"] = [p for p in data.get("policies", []) if "EventType::" not in p.get("inline", "")]
    for endpoint in data.get("webhooks", {}).get("endpoints", {}).values():
        endpoint["events"] = [e for e in endpoint.get("events", []) if e.startswith("job.")]
    for settings in data.get("tools", {}).values():
        if isinstance(settings, dict) and isinstance(settings.get("cache"), dict):
            settings["cache"].pop("invalidate_on", None)
    return data


def needs_rewiring() -> bool:
    return not available() or os.environ.get(CDC) == "postgres"


async def logical_decoding_problem(url: str) -> str | None:
    """Why `transaction_booked` cannot be captured from this PostgreSQL (a notice), or None."""
    import asyncpg

    connection = await asyncpg.connect(url, timeout=5)
    try:
        level = await connection.fetchval("SHOW wal_level")
    finally:
        await connection.close()
    if level == "logical":
        return None
    return (
        f"transaction_booked events need wal_level=logical on this PostgreSQL (it is {level}): "
        "ALTER SYSTEM SET wal_level = logical and restart it (.ci/postgres-logical does both); "
        "the demo runs without them meanwhile\n"
    )
