"""`pasarela demo`: starts, serves both doors, and stops cleanly with nothing left running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import anyio
import httpx
import pytest

from tests.conftest import REPO
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import child_env, pasarela_command, run_pasarela
from tests.helpers.servers import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

EU_JOHN = {"customer_id": "12345", "region": "EU"}
AUDIT_KEY = "demo-audit-key-for-the-test-0001"


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def read_banner(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if line.startswith("API key (compliance-bot)"):
            return "".join(lines)
    raise AssertionError(f"no banner from the demo:\n{''.join(lines)}")


async def test_demo_serves_both_doors_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        pasarela_command("demo", "--port", str(port), "--data-dir", str(tmp_path)),
        # Customer data is cached for 5 minutes in the demo; a second lets the test see it go stale.
        env=child_env(
            {"PASARELA_DEMO_CUSTOMER_CACHE_TTL": "1s", "PASARELA_SECRET_DEMO_AUDIT_KEY": AUDIT_KEY}
        ),
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = read_banner(process)
        mcp_url = re.search(r"MCP URL:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        rest_url = re.search(r"REST URL:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        keys = dict(re.findall(r"API key \(([\w-]+)\): (\S+)", banner))
        assert mcp_url == f"http://127.0.0.1:{port}/mcp"
        assert rest_url == f"http://127.0.0.1:{port}/v1"
        assert set(keys) == {"support-bot", "sales-bot", "compliance-bot"}
        systems = children_of(process.pid)
        assert len(systems) == 2
        crm = re.search(r"System crm: (\S+) \(pid (\d+)", banner)
        assert crm is not None
        crm_url, crm_pid = crm.group(1), int(crm.group(2))
        assert crm_pid in systems

        support = {"Authorization": f"Bearer {keys['support-bot']}"}
        async with httpx.AsyncClient(base_url=rest_url, timeout=15) as http:
            tools = {t["name"]: t for t in (await http.get("/tools", headers=support)).json()["tools"]}
            assert set(tools) == {
                "get_customer_info",
                "search_customers",
                "create_support_ticket",
                "get_ticket",
                "list_tickets",
            }
            customer_schema = tools["get_customer_info"]["inputSchema"]
            assert list(customer_schema["properties"]) == ["customer_id", "region"]
            assert customer_schema["properties"]["customer_id"]["type"] == "string"
            assert customer_schema["required"] == ["customer_id"]
            ticket_schema = tools["create_support_ticket"]["inputSchema"]
            assert {k: v["type"] for k, v in ticket_schema["properties"].items()} == {
                "title": "string",
                "description": "string",
                "priority": "string",
            }
            assert ticket_schema["properties"]["priority"]["enum"] == ["low", "medium", "high", "critical"]
            assert ticket_schema["required"] == ["title", "description"]

            john = await http.post(
                "/tools/get_customer_info:call", json={"arguments": EU_JOHN}, headers=support
            )
            assert john.json()["result"]["first_name"] == "John"
            assert john.json()["result"]["last_name"] == "Doe"
            assert john.json()["meta"]["cache"] == "miss"
            # Support sees contact details masked; compliance (policy: unmask) sees them whole.
            assert john.json()["result"]["email"] == "***.com"
            # Support reads customers of its own region only: it must say which, and the CRM holds it to it.
            for arguments, status in (
                ({"customer_id": "12345"}, 403),
                ({"customer_id": "12345", "region": "US"}, 403),
                ({"customer_id": "45678", "region": "EU"}, 502),  # a US customer: the CRM answers 404
            ):
                refused = await http.post(
                    "/tools/get_customer_info:call", json={"arguments": arguments}, headers=support
                )
                assert refused.status_code == status, refused.text
            assert (
                "own region"
                in (
                    await http.post(
                        "/tools/search_customers:call", json={"arguments": {"name": "Doe"}}, headers=support
                    )
                ).json()["detail"]
            )
            eu_only = await http.post(
                "/tools/search_customers:call",
                json={"arguments": {"name": "ar", "region": "EU"}},
                headers=support,
            )
            assert [c["first_name"] for c in eu_only.json()["result"]["customers"]] == [
                "Maria"
            ]  # not Amara (US)
            denied = await http.post(
                "/tools/list_customer_accounts:call",
                json={"arguments": {"customer_id": "12345"}},
                headers=support,
            )
            assert denied.status_code == 403
            sales = {"Authorization": f"Bearer {keys['sales-bot']}"}
            sales_tools = {t["name"] for t in (await http.get("/tools", headers=sales)).json()["tools"]}
            assert "create_support_ticket" not in sales_tools  # the sales bot cannot open tickets
            no_ticket = await http.post(
                "/tools/create_support_ticket:call",
                json={"arguments": {"title": "Upsell", "description": "Call the customer"}},
                headers=sales,
            )
            assert no_ticket.status_code == 403
            quote = await http.post(
                "/tools/loan_payment_quote:call",
                json={"arguments": {"amount": 12000, "annual_rate_percent": 0, "months": 12}},
                headers=sales,
            )
            assert quote.json()["result"]["monthly_payment"] == 1000.0
            too_long = await http.post(
                "/tools/loan_payment_quote:call",
                json={"arguments": {"amount": 12000, "annual_rate_percent": 3, "months": 480}},
                headers=sales,
            )
            assert too_long.status_code == 403
            assert "human advisor" in too_long.json()["detail"]
            compliance = {"Authorization": f"Bearer {keys['compliance-bot']}"}
            accounts = await http.post(
                "/tools/list_customer_accounts:call",
                json={"arguments": {"customer_id": "12345"}},
                headers=compliance,
            )
            assert len(accounts.json()["result"]["accounts"]) == 3
            again = await http.post(
                "/tools/list_customer_accounts:call",
                json={"arguments": {"customer_id": "12345"}},
                headers=compliance,
            )
            assert "cache" not in again.json()["meta"]  # balances are never cached
            unmasked = await http.post(
                "/tools/get_customer_info:call",
                json={"arguments": {"customer_id": "12345"}},
                headers=compliance,
            )
            assert "@" in unmasked.json()["result"]["email"]
            assert unmasked.json()["meta"]["cache"] == "miss"  # another agent: its own cache entry

            # Tickets are limited to 20 a minute per agent.
            ticket = {"arguments": {"title": "Card blocked", "description": "Card declined twice"}}
            created = [
                await http.post("/tools/create_support_ticket:call", json=ticket, headers=support)
                for _ in range(21)
            ]
            assert [r.status_code for r in created] == [200] * 20 + [429]
            assert created[0].json()["result"]["status"] == "open"
            assert created[0].json()["result"]["ticket_id"].startswith("T-")

            # The CRM stops: support's customer data comes from the cache, marked stale.
            cached = await http.post(
                "/tools/get_customer_info:call", json={"arguments": EU_JOHN}, headers=support
            )
            assert cached.json()["meta"]["cache"] in ("hit", "miss")
            os.kill(crm_pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while True:  # until the CRM is really gone (a busy machine may take a moment)
                try:
                    httpx.get(f"{crm_url}/healthz", timeout=0.5)
                except httpx.TransportError:
                    break
                assert time.monotonic() < deadline, "the CRM did not stop"
                await anyio.sleep(0.1)
            await anyio.sleep(1.2)  # past the (shortened) ttl: only a stale copy is left
            stale = await http.post(
                "/tools/get_customer_info:call", json={"arguments": EU_JOHN}, headers=support
            )
            assert stale.status_code == 200, stale.text
            assert stale.json()["result"]["first_name"] == "John"
            assert stale.json()["meta"]["cache"] == "stale"
            assert "crm is unavailable" in stale.json()["meta"]["warning"]
            never_cached = await http.post(
                "/tools/get_customer_info:call",
                json={"arguments": {"customer_id": "23456", "region": "EU"}},
                headers=support,
            )
            assert never_cached.status_code == 503
            assert never_cached.json()["backend"] == "crm"
            assert never_cached.json()["fallbacks_tried"] == ["cache"]

        async with mcp_http_client(mcp_url, keys["support-bot"]) as client:
            listed = await client.list_tools()
            assert "create_support_ticket" in [t.name for t in listed.tools]
            # The 21st ticket of the minute: an MCP tool error the model can read, with when to retry.
            limited = await client.call_tool(
                "create_support_ticket",
                {"title": "Card blocked", "description": "John Doe cannot pay", "priority": "high"},
            )
            assert limited.is_error
            problem = json.loads(limited.content[0].text)  # type: ignore[union-attr]
            assert problem["code"] == "rate_limited" and 0 < problem["retry_after"] <= 60

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        for pid in systems:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)

        # Every call and denial above is in the demo's audit trail, and the chain verifies.
        env = {
            "PASARELA_DEMO_DATA": str(tmp_path),
            "PASARELA_SECRET_DEMO_AUDIT_KEY": AUDIT_KEY,
            # Loading the configuration resolves every secret; verifying uses only the audit key.
            **{
                f"PASARELA_SECRET_DEMO_{name}": "unused-for-verification"
                for name in (
                    "SUPPORT_BOT_KEY",
                    "SALES_BOT_KEY",
                    "COMPLIANCE_BOT_KEY",
                    "CRM_API_KEY",
                    "TICKETING_TOKEN",
                )
            },
        }
        verified = run_pasarela(
            "audit", "verify", "-c", str(REPO / "examples" / "bank" / "pasarela.yaml"), env=env
        )
        assert verified.returncode == 0, verified.stderr
        assert "audit: OK" in verified.stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
