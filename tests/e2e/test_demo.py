"""`pasarela demo`: starts, serves both doors, and stops cleanly with nothing left running."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import child_env, pasarela_command
from tests.helpers.servers import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


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
        env=child_env(),
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
            assert list(customer_schema["properties"]) == ["customer_id"]
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
                "/tools/get_customer_info:call", json={"arguments": {"customer_id": "12345"}}, headers=support
            )
            assert john.json()["result"]["first_name"] == "John"
            assert john.json()["result"]["last_name"] == "Doe"
            denied = await http.post(
                "/tools/list_customer_accounts:call",
                json={"arguments": {"customer_id": "12345"}},
                headers=support,
            )
            assert denied.status_code == 403
            sales = {"Authorization": f"Bearer {keys['sales-bot']}"}
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

        async with mcp_http_client(mcp_url, keys["support-bot"]) as client:
            listed = await client.list_tools()
            assert "create_support_ticket" in [t.name for t in listed.tools]
            ticket = await client.call_tool(
                "create_support_ticket",
                {"title": "Card blocked", "description": "John Doe cannot pay", "priority": "high"},
            )
            assert not ticket.is_error
            assert ticket.structured_content is not None
            assert ticket.structured_content["status"] == "open"
            assert ticket.structured_content["ticket_id"].startswith("T-")

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        for pid in systems:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
