"""The demo's region promise holds for all customer data: the support bot (region EU) reads EU
customers only, whichever tool answers, even where the arguments do not say whose data it is
(an account number, a customer number); the compliance bot reads everything."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from pasarela.audit import search
from pasarela.state import open_state
from tests.e2e.test_demo import running_demo
from tests.helpers.mcp_clients import mcp_http_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

RULE = "customers.support-sees-its-own-region-only"
US_CUSTOMER = "45678"  # Amara Okafor, region US: account ACC-4001, loan L-9301
# Tool, arguments that name a US customer's data without saying so, and what compliance sees.
US_DATA: list[tuple[str, dict[str, Any]]] = [
    ("get_account_balance", {"account_id": "ACC-4001"}),
    ("get_customer_accounts", {"customer_id": US_CUSTOMER}),
    ("get_customer_loans", {"customer_id": US_CUSTOMER}),
]


async def test_support_reads_its_own_region_only_and_compliance_reads_all(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        support = {"Authorization": f"Bearer {demo.keys['support-bot']}"}
        compliance = {"Authorization": f"Bearer {demo.keys['compliance-bot']}"}
        async with httpx.AsyncClient(base_url=demo.rest_url, timeout=15) as http:

            async def call(tool: str, arguments: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
                return await http.post(f"/tools/{tool}:call", json={"arguments": arguments}, headers=headers)

            for tool, arguments in US_DATA:
                refused = await call(tool, arguments, support)
                assert refused.status_code == 403, (tool, refused.text)
                assert "another region" in refused.json()["detail"]
                assert "Okafor" not in refused.text and "830.55" not in refused.text
                seen = await call(tool, arguments, compliance)
                assert seen.status_code == 200, (tool, seen.text)
                assert seen.json()["result"]["region"] == "US"
            # The same tools answer support for an EU customer.
            for tool, arguments in [
                ("get_account_balance", {"account_id": "ACC-1001"}),
                ("get_customer_accounts", {"customer_id": "12345"}),
                ("get_customer_loans", {"customer_id": "12345"}),
            ]:
                allowed = await call(tool, arguments, support)
                assert allowed.status_code == 200, (tool, allowed.text)
                assert allowed.json()["result"]["region"] == "EU"

            # Lists lose the items support may not read, and say how many.
            us_moves = await call("recent_transactions", {"account_id": "ACC-4001"}, support)
            assert us_moves.status_code == 200
            assert us_moves.json()["result"]["transactions"] == []
            assert us_moves.json()["meta"]["filtered"] == 1
            eu_moves = await call("recent_transactions", {"account_id": "ACC-1001", "limit": 3}, support)
            assert len(eu_moves.json()["result"]["transactions"]) == 3
            assert eu_moves.json()["meta"]["filtered"] == 0
            all_moves = await call("recent_transactions", {"account_id": "ACC-4001"}, compliance)
            assert [t["transaction_id"] for t in all_moves.json()["result"]["transactions"]] == ["TX-400001"]
            everyone = await call("search_customers", {"name": "ar"}, compliance)
            assert "Okafor" in {c["last_name"] for c in everyone.json()["result"]["customers"]}
            assert everyone.json()["meta"]["filtered"] == 0
            amara = await call("get_customer_info", {"customer_id": US_CUSTOMER}, compliance)
            assert amara.json()["result"]["region"] == "US"

        # Through MCP the refusal is a tool error the model can read, with nothing of the data in it.
        async with mcp_http_client(demo.mcp_url, demo.keys["support-bot"]) as client:
            refused_mcp = await client.call_tool("get_account_balance", {"account_id": "ACC-4001"})
            assert refused_mcp.is_error
            problem = json.loads(refused_mcp.content[0].text)  # type: ignore[union-attr]
            assert problem["code"] == "denied" and "830.55" not in refused_mcp.content[0].text  # type: ignore[union-attr]

        demo.process.send_signal(signal.SIGINT)
        assert demo.process.wait(timeout=30) == 0

    # The audit trail records each refusal as a deny, with the rule that decided it.
    store = await open_state(f"sqlite:///{tmp_path / 'pasarela.db'}", tmp_path)
    try:
        records = await search(store, principal="support-bot", outcome="denied")
    finally:
        await store.aclose()
    assert [(r["tool"], r["decision"], json.loads(r["policies"])) for r in records] == [
        ("get_account_balance", "deny", [RULE]),
        ("get_customer_accounts", "deny", [RULE]),
        ("get_customer_loans", "deny", [RULE]),
        ("get_account_balance", "deny", [RULE]),
    ]
