"""The demo bank's composites against its real systems: chaining, fan-out, routing, partial success."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp_types import TextContent

from tests.e2e.test_demo import running_demo
from tests.helpers.mcp_clients import mcp_http_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


async def call(http: httpx.AsyncClient, key: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    answer = await http.post(
        f"/tools/{tool}:call", json={"arguments": arguments}, headers={"Authorization": f"Bearer {key}"}
    )
    body: dict[str, Any] = answer.json()
    body["status"] = answer.status_code
    return body


async def test_the_demo_composites_chain_fan_out_route_and_answer_in_part(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        support, sales, compliance = (demo.keys[f"{p}-bot"] for p in ("support", "sales", "compliance"))
        async with httpx.AsyncClient(base_url=demo.rest_url, timeout=30) as http:
            # Chaining and fan-out: CRM by name → core banking accounts → each balance.
            found = await call(
                http, compliance, "customer_balance_by_name", {"name": "John Doe", "region": "EU"}
            )
            assert found["status"] == 200, found
            assert found["result"]["customer"]["customer_id"] == "12345"
            balances = found["result"]["accounts"]
            assert balances and all({"account_id", "balance", "currency"} <= set(b) for b in balances)
            assert [s["step"] for s in found["meta"]["steps"]] == ["customer", "accounts", "balances"]
            per_currency: dict[str, float] = {}
            for account in balances:
                per_currency[account["currency"]] = (
                    per_currency.get(account["currency"], 0) + account["balance"]
                )
            assert found["result"]["totals"] == pytest.approx(per_currency)

            # Everything at once for compliance; the sales bot gets what its role allows.
            full = await call(http, compliance, "customer_overview", {"customer_id": "12345"})
            assert (full["status"], full["meta"]["partial"]) == (200, False), full["meta"]["errors"]
            assert full["result"]["credit_score"] == 742 and full["result"]["loans"]["loans"]
            limited = await call(http, sales, "customer_overview", {"customer_id": "12345"})
            assert limited["meta"]["partial"] is True
            denied = {e["step"] for e in limited["meta"]["errors"] if e["code"] == "denied"}
            assert denied == {"balances", "transactions"}, limited["meta"]["errors"]
            assert limited["result"]["credit_score"] == 742 and limited["result"]["balances"] is None

            # Routing: a critical problem pages on-call, the rest is a ticket.
            paged = await call(
                http,
                support,
                "open_ticket_for_customer",
                {
                    "customer_id": "12345",
                    "title": "Card blocked",
                    "description": "at the ATM",
                    "priority": "critical",
                },
            )
            queued = await call(
                http,
                support,
                "open_ticket_for_customer",
                {
                    "customer_id": "12345",
                    "title": "Address change",
                    "description": "moved",
                    "priority": "low",
                },
            )
            assert paged["result"]["ticket_id"].startswith("INC-"), paged
            assert queued["result"]["ticket_id"].startswith("T-"), queued

            # The credit bureau goes down: the overview answers the rest, marked partial.
            _, bureau_pid = demo.systems["credit_bureau"]
            os.kill(bureau_pid, signal.SIGTERM)
            with anyio.fail_after(10):
                while _alive(bureau_pid):  # noqa: ASYNC110 — waiting on another process
                    await anyio.sleep(0.05)
            partial = await call(http, compliance, "customer_overview", {"customer_id": "12345"})
            assert partial["status"] == 200, partial
            assert partial["meta"]["partial"] is True
            assert [(e["step"], e["code"]) for e in partial["meta"]["errors"]] == [
                ("credit", "upstream_unavailable")
            ]
            assert partial["result"]["credit_score"] is None and partial["result"]["accounts"]

        async with mcp_http_client(demo.mcp_url, compliance) as client:
            result = await client.call_tool("customer_overview", {"customer_id": "12345"})
        assert not result.is_error
        notes = [b.text for b in result.content if isinstance(b, TextContent)][-1]
        assert "note: credit (get_credit_score) temporarily unavailable" in notes


async def test_the_demo_brings_an_older_data_directory_up_to_date(tmp_path: Path) -> None:
    from pasarela.state import migrate, open_state
    from tests.state.test_migrations import store_at_0001

    url = f"sqlite:///{tmp_path / 'pasarela.db'}"
    store = await store_at_0001(url, tmp_path)
    await store.aclose()
    with running_demo(tmp_path) as demo:
        assert "MCP URL" in demo.banner
    store = await open_state(url, tmp_path, schema="read")
    assert store.schema is not None and store.schema.current == migrate.HEAD
    await store.aclose()


def _audit_rows(data_dir: Path, parent_id: str) -> dict[str, tuple[str, float]]:
    """Tool → (outcome, latency ms) of the steps recorded under the composite call `parent_id`."""
    with sqlite3.connect(data_dir / "pasarela.db") as db:
        rows = db.execute(
            "select tool, outcome, latency_ms from pasarela_audit where parent_id = ?", (parent_id,)
        ).fetchall()
    return {tool: (outcome, latency) for tool, outcome, latency in rows}


async def test_a_slow_system_is_cut_by_its_step_deadline_and_a_cancelled_overview_stops_its_steps(
    tmp_path: Path,
) -> None:
    # The credit bureau answers after 30 s; the overview gives its credit step 2 s.
    with running_demo(tmp_path, env={"PASARELA_DEMO_LATENCY": "credit_bureau=30s"}) as demo:
        compliance = demo.keys["compliance-bot"]
        async with httpx.AsyncClient(base_url=demo.rest_url, timeout=30) as http:
            with anyio.fail_after(15):
                cut = await call(http, compliance, "customer_overview", {"customer_id": "12345"})
            assert cut["status"] == 200, cut
            assert [(e["step"], e["code"]) for e in cut["meta"]["errors"]] == [("credit", "upstream_timeout")]
            assert cut["result"]["credit_score"] is None and cut["result"]["loans"]["loans"]
            [credit] = [s for s in cut["meta"]["steps"] if s["step"] == "credit"]
            assert 1900 <= credit["duration_ms"] < 10_000, "cut at its own 2 s, not the bureau's 30 s"

            # The agent gives up after half a second: the steps still in flight are cancelled.
            with pytest.raises(httpx.ReadTimeout):
                await http.post(
                    "/tools/customer_overview:call",
                    json={"arguments": {"customer_id": "12345"}},
                    headers={"Authorization": f"Bearer {compliance}", "X-Request-Id": "given-up-1"},
                    timeout=0.5,
                )
            with anyio.fail_after(10):
                while "get_credit_score" not in (steps := _audit_rows(tmp_path, "given-up-1")):  # noqa: ASYNC110
                    await anyio.sleep(0.1)
    outcome, latency_ms = steps["get_credit_score"]
    assert outcome == "cancelled", steps
    assert latency_ms < 1900, "stopped with the agent, well before its own 2 s"
