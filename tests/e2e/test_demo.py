"""`pasarela demo`: starts, serves both doors, answers the seed's question from four kinds of
system, and stops cleanly with nothing left running."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from jsonschema import Draft202012Validator
from mcp.types import CallToolResult

from tests.conftest import POSTGRES_URL, REPO, need_service
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
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if line.startswith("API key (ops-admin)"):  # the last key printed
            return "".join(lines)
    raise AssertionError(f"no banner from the demo:\n{''.join(lines)}")


@dataclass
class RunningDemo:
    process: subprocess.Popen[str]
    banner: str
    mcp_url: str
    rest_url: str
    keys: dict[str, str]
    systems: dict[str, tuple[str, int]]  # name → (url, pid)


@contextmanager
def running_demo(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[RunningDemo]:
    port = free_port()
    process = subprocess.Popen(
        pasarela_command("demo", "--port", str(port), "--data-dir", str(tmp_path), *args),
        env=child_env(env or {}),
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = read_banner(process)
        mcp_url = re.search(r"MCP URL:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        rest_url = re.search(r"REST URL:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        assert mcp_url == f"http://127.0.0.1:{port}/mcp"
        assert rest_url == f"http://127.0.0.1:{port}/v1"
        systems = {
            name: (url, int(pid)) for name, url, pid in re.findall(r"System (\w+): (\S+) \(pid (\d+)", banner)
        }
        keys = dict(re.findall(r"API key \(([\w-]+)\): (\S+)", banner))
        yield RunningDemo(process, banner, mcp_url, rest_url, keys, systems)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_demo_serves_both_doors_and_stops_cleanly(tmp_path: Path) -> None:
    # Customer data is cached for 5 minutes in the demo; a second lets the test see it go stale.
    env = {"PASARELA_DEMO_CUSTOMER_CACHE_TTL": "1s", "PASARELA_SECRET_DEMO_AUDIT_KEY": AUDIT_KEY}
    with running_demo(tmp_path, env=env) as demo:
        process, keys, rest_url, mcp_url = demo.process, demo.keys, demo.rest_url, demo.mcp_url
        assert set(keys) == {"support-bot", "sales-bot", "compliance-bot", "ops-admin"}
        assert f"Console:  {rest_url.removesuffix('/v1')}/admin" in demo.banner
        systems = children_of(process.pid)
        assert set(demo.systems) == {
            "crm",
            "ticketing",
            "core_banking",
            "loans",
            "credit_bureau",
            "reports",
            "webhook_receiver",
            "pricing",
            "product_advisor",
        }
        assert {pid for _, pid in demo.systems.values()} == set(systems)
        crm_url, crm_pid = demo.systems["crm"]
        gateway = rest_url.removesuffix("/v1")

        support = {"Authorization": f"Bearer {keys['support-bot']}"}
        # The console: the operator's key opens it, an agent's does not.
        async with httpx.AsyncClient(base_url=gateway, timeout=15) as http:
            admin = await http.get(
                "/admin/backends", headers={"Authorization": f"Bearer {keys['ops-admin']}"}
            )
            assert admin.status_code == 200 and "core_banking" in admin.text
            assert (await http.get("/admin", headers=support)).status_code == 403
        async with httpx.AsyncClient(base_url=rest_url, timeout=15) as http:
            tools = {t["name"]: t for t in (await http.get("/tools", headers=support)).json()["tools"]}
            assert set(tools) == {
                "get_customer_info",
                "search_customers",
                "get_customer_accounts",
                "get_account_balance",
                "recent_transactions",
                "get_customer_loans",
                "create_support_ticket",
                "get_ticket",
                "list_tickets",
                "page_on_call",
                "customer_balance_by_name",
                "customer_overview",
                "open_ticket_for_customer",
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
            sales = {"Authorization": f"Bearer {keys['sales-bot']}"}
            sales_tools = {t["name"] for t in (await http.get("/tools", headers=sales)).json()["tools"]}
            assert "create_support_ticket" not in sales_tools  # the sales bot cannot open tickets
            # Sales sees which products a customer holds, not what is in them.
            assert "get_customer_accounts" in sales_tools and "get_account_balance" not in sales_tools
            no_balance = await http.post(
                "/tools/get_account_balance:call",
                json={"arguments": {"account_id": "ACC-1001"}},
                headers=sales,
            )
            assert no_balance.status_code == 403
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
            balances = [
                await http.post(
                    "/tools/get_account_balance:call",
                    json={"arguments": {"account_id": "ACC-1001"}},
                    headers=compliance,
                )
                for _ in range(2)
            ]
            assert [b.json()["result"]["ledger"]["amount"] for b in balances] == [2450.75, 2450.75]
            assert all("cache" not in b.json()["meta"] for b in balances)  # balances are never cached
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
            httpx.get(f"{gateway}/healthz", timeout=2)

        # Every call and denial above is in the demo's audit trail, and the chain verifies.
        env = {
            "PASARELA_DEMO_DATA": str(tmp_path),
            "PASARELA_SECRET_DEMO_AUDIT_KEY": AUDIT_KEY,
            "PASARELA_SECRET_DEMO_WEBHOOK_SECRET": "whsec_" + "a" * 44,
            # Loading the configuration resolves every secret; verifying uses only the audit key.
            **{
                f"PASARELA_SECRET_DEMO_{name}": "unused-for-verification"
                for name in (
                    "SUPPORT_BOT_KEY",
                    "SALES_BOT_KEY",
                    "COMPLIANCE_BOT_KEY",
                    "OPS_ADMIN_KEY",
                    "CRM_API_KEY",
                    "TICKETING_TOKEN",
                    "CORE_BANKING_PASSWORD",
                    "LOANS_TOKEN",
                    "CREDIT_BUREAU_KEY",
                    "REPORTS_TOKEN",
                    "PRICING_TOKEN",
                    "PRODUCT_ADVISOR_TOKEN",
                    "TRANSACTIONS_DB",
                )
            },
        }
        verified = run_pasarela(
            "audit", "verify", "-c", str(REPO / "examples" / "bank" / "pasarela.yaml"), env=env
        )
        assert verified.returncode == 0, verified.stderr
        assert "audit: OK" in verified.stderr
        assert "anchor(s) verified" in verified.stderr
        # Wiped by someone with the database but not the key: the demo's anchors catch it.
        with sqlite3.connect(tmp_path / "pasarela.db") as db:
            for table in ("pasarela_audit", "pasarela_audit_checkpoints", "pasarela_audit_head"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 — fixed table names
        wiped = run_pasarela(
            "audit", "verify", "-c", str(REPO / "examples" / "bank" / "pasarela.yaml"), env=env
        )
        assert wiped.returncode == 3
        assert "the trail is empty" in wiped.stderr


async def _fresh_transactions_table(url: str) -> str | None:
    """Drop the demo's table so the demo must create and fill it; the reason it cannot, or None."""
    import asyncpg

    try:
        connection = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {url} is not reachable ({type(exc).__name__}: {exc})"
    try:
        await connection.execute("DROP TABLE IF EXISTS bank_transactions")
    finally:
        await connection.close()
    return None


async def _book_in_postgres(url: str) -> None:
    """A transaction booked after the demo started: only the live database can know it."""
    import asyncpg

    connection = await asyncpg.connect(url, timeout=3)
    try:
        await connection.execute(
            "INSERT INTO bank_transactions VALUES ('TX-999999', 'ACC-1001', now(), -9.99, 'EUR',"
            " 'Booked during the test', 'Test Shop')"
        )
    finally:
        await connection.close()


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    answer: dict[str, Any] | None = result.structured_content
    assert answer is not None
    return answer


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_the_seed_question_is_answered_from_four_kinds_of_system_through_mcp(
    tmp_path: Path, database: str
) -> None:
    """ "What is John Doe's account balance and are his loans in good standing?" — asked by the
    support bot with the official MCP client: the CRM over REST, core banking over SOAP,
    transactions in SQL and loans over GraphQL, each answer in its registry shape."""
    args: list[str] = []
    if database == "postgresql":
        need_service(await _fresh_transactions_table(POSTGRES_URL))
        args = ["--postgres", POSTGRES_URL]
    with running_demo(tmp_path, *args) as demo:
        if database == "postgresql":
            assert "Transactions database: postgresql://" in demo.banner
            await _book_in_postgres(POSTGRES_URL)
        else:
            assert f"Transactions database: sqlite:///{tmp_path}" in demo.banner
        async with mcp_http_client(demo.mcp_url, demo.keys["support-bot"]) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            used = ["search_customers", "get_customer_accounts", "get_account_balance"]
            used += ["recent_transactions", "get_customer_loans"]
            # Each tool advertises its registry shape, and speaks the bank's argument names.
            assert all(tools[name].output_schema for name in used)
            assert tools["get_customer_accounts"].input_schema["required"] == ["customer_id"]
            assert list(tools["get_account_balance"].input_schema["properties"]) == ["account_id"]
            # The XSD's pattern (which zeep drops) travels with the renamed argument.
            assert tools["get_account_balance"].input_schema["properties"]["account_id"]["pattern"] == (
                "^(?:(?:ACC-[0-9]{4}))$"
            )
            refused = await client.call_tool("get_account_balance", {"account_id": "1001"})
            assert refused.is_error and "account_id" in refused.content[0].text  # type: ignore[union-attr]

            async def ask(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
                answer = structured(await client.call_tool(tool, arguments))
                Draft202012Validator(tools[tool].output_schema or {}).validate(answer)
                return answer

            # CRM (REST/OpenAPI): who is John Doe?
            [john] = (await ask("search_customers", {"name": "John Doe", "region": "EU"}))["customers"]
            assert (john["first_name"], john["last_name"]) == ("John", "Doe")
            # Core banking (SOAP): his accounts (the closed one is left out by a fixed argument) ...
            accounts = (await ask("get_customer_accounts", {"customer_id": john["customer_id"]}))["accounts"]
            assert [(a["account_id"], a["type"]) for a in accounts] == [
                ("ACC-1001", "CHECKING"),
                ("ACC-1002", "SAVINGS"),
                ("ACC-1003", "CREDIT_CARD"),
            ]
            # ... and their real-time balances.
            balances = {
                a["account_id"]: await ask("get_account_balance", {"account_id": a["account_id"]})
                for a in accounts
            }
            assert balances["ACC-1001"]["ledger"] == {"amount": 2450.75, "currency": "EUR"}
            assert balances["ACC-1003"]["ledger"]["amount"] == -312.4
            assert balances["ACC-1003"]["available"]["amount"] == 1687.6  # within the card's limit
            # Transactions (SQL): what moved on the checking account lately.
            recent = await ask("recent_transactions", {"account_id": "ACC-1001", "limit": 3})
            latest = recent["transactions"][0]
            if database == "postgresql":
                assert latest["transaction_id"] == "TX-999999"  # booked after start: read live
                assert latest["amount"] == {"amount": -9.99, "currency": "EUR"}
            else:
                assert latest["transaction_id"] == "TX-100001"
            assert len(recent["transactions"]) == 3 and recent["truncated"] is False
            # Loans (GraphQL): are they in good standing?
            loans = await ask("get_customer_loans", {"customer_id": john["customer_id"]})
            assert loans["all_in_good_standing"] is True
            assert {(loan["product"], loan["status"]) for loan in loans["loans"]} == {
                ("MORTGAGE", "CURRENT"),
                ("PERSONAL", "CURRENT"),
            }
            # Wei Chen is an APAC customer: not the (EU) support bot's to read.
            refused_loans = await client.call_tool("get_customer_loans", {"customer_id": "34567"})
            assert refused_loans.is_error and "another region" in refused_loans.content[0].text  # type: ignore[union-attr]
        async with mcp_http_client(demo.mcp_url, demo.keys["compliance-bot"]) as client:
            # Someone else's answer differs: Wei Chen's car loan is 45 days in arrears.
            wei = structured(await client.call_tool("get_customer_loans", {"customer_id": "34567"}))
            Draft202012Validator(tools["get_customer_loans"].output_schema or {}).validate(wei)
            assert wei["all_in_good_standing"] is False and wei["region"] == "APAC"
            assert wei["loans"][0]["days_past_due"] == 45

        # The systems take only the gateway's credentials: an agent (or anyone) going around it is refused.
        core_url, _ = demo.systems["core_banking"]
        loans_url, _ = demo.systems["loans"]
        envelope = (
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            b'<t:GetAccountBalanceRequest xmlns:t="urn:demo-bank:core:types"><t:accountNumber>ACC-1001'
            b"</t:accountNumber></t:GetAccountBalanceRequest></soap:Body></soap:Envelope>"
        )
        async with httpx.AsyncClient(timeout=5) as http:
            bare = await http.post(f"{core_url}/soap", content=envelope)
            assert bare.status_code == 500 and b"UsernameToken is required" in bare.content
            anonymous = await http.post(
                f"{loans_url}/graphql", json={"query": '{ loan(id: "L-9001") { id } }'}
            )
            assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@127.0.0.1/test", "--postgres expects a postgresql:// URL, got mysql:…"),
        (
            "postgresql://demo:s3cret-pw@127.0.0.1:1/nowhere",
            "cannot prepare the transactions database postgresql://demo:***@127.0.0.1:1/nowhere",
        ),
    ],
)
def test_a_bad_postgres_url_stops_the_demo_with_a_clear_error(
    tmp_path: Path, url: str, expected: str
) -> None:
    finished = run_pasarela(
        "demo", "--port", str(free_port()), "--data-dir", str(tmp_path), "--postgres", url
    )
    assert finished.returncode == 1
    assert expected in finished.stderr
    assert "s3cret-pw" not in finished.stderr + finished.stdout
    assert not (tmp_path / "crm.db").exists()  # no system was started
