"""The demo's product advisor, an A2A agent, through the REST door: its card read at start, a
question answered as a streamed task, a thin profile asked back, a job with its progress, granted
to the sales bot only, and reachable only with the gateway's own credential."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.test_demo import running_demo

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

QUESTION = (
    "Which loan fits a retail customer earning 48,000 a year who wants 25,000 for a car over 5 years, "
    "credit score 720?"
)


async def test_the_sales_bot_asks_the_product_advisor_which_loan_fits(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        sales = {"Authorization": f"Bearer {demo.keys['sales-bot']}"}
        support = {"Authorization": f"Bearer {demo.keys['support-bot']}"}
        advisor_url, _ = demo.systems["product_advisor"]
        async with httpx.AsyncClient(base_url=demo.rest_url, timeout=30) as http:

            async def ask(arguments: dict[str, object], headers: dict[str, str] = sales) -> httpx.Response:
                return await http.post(
                    "/tools/ask_product_advisor:call", json={"arguments": arguments}, headers=headers
                )

            tools = {t["name"]: t for t in (await http.get("/tools", headers=sales)).json()["tools"]}
            advisor = tools["ask_product_advisor"]
            assert "Recommend a loan product" in advisor["description"]
            assert set(advisor["inputSchema"]["properties"]) == {"message", "data"}

            answered = await ask({"message": QUESTION})
            assert answered.status_code == 200, answered.text
            result = answered.json()["result"]
            advice = result["artifacts"][0]["data"][0]
            assert advice["recommended_product"] == "AUTO-LOAN" and advice["eligible"] is True
            assert advice["max_amount"] == 38400  # 0.8 × 48,000
            assert advice["profile"] == {
                "purpose": "car",
                "amount": 25000,
                "term_months": 60,
                "annual_income": 48000,
                "credit_score": 720,
                "segment": "RETAIL",
            }
            assert result["text"].startswith("AUTO-LOAN (Car loan) fits")
            assert result["task_id"]

            # A structured profile; the advisor names what to price next, and the sales bot can.
            profile = {"purpose": "home", "amount": 400000, "annual_income": 150000, "segment": "PRIVATE"}
            mortgage = await ask({"message": "Which loan fits this customer?", "data": profile})
            advice = mortgage.json()["result"]["artifacts"][0]["data"][0]
            assert advice["recommended_product"] == "MORTGAGE-30Y", mortgage.text
            priced = await http.post(
                "/tools/get_product_price:call",
                json={"arguments": {"product_id": "MORTGAGE-30Y", "customer_segment": "PRIVATE"}},
                headers=sales,
            )
            assert priced.status_code == 200 and priced.json()["result"]["product_id"] == "MORTGAGE-30Y"

            # Too little to go on: the advisor asks back, and the agent is told its question.
            thin = await ask({"message": "Which loan should I offer?"})
            assert thin.status_code == 502, thin.text
            assert thin.json()["a2a_state"] == "input-required"
            assert thin.json()["agent_message"].startswith("What is the loan for")

            # As a job: the task's progress is the job's, and its end the job's result.
            started = await http.post(
                "/tools/ask_product_advisor:start", json={"arguments": {"message": QUESTION}}, headers=sales
            )
            assert started.status_code == 202, started.text
            job = started.json()["job"]["id"]
            done = await http.get(f"/jobs/{job}/result", params={"wait": "20s"}, headers=sales)
            assert done.status_code == 200, done.text
            view = (await http.get(f"/jobs/{job}", headers=sales)).json()["job"]
            assert view["progress"] == {"fraction": 1.0, "message": result["text"]}

            # Only the sales bot is granted the advisor.
            assert "ask_product_advisor" not in {
                t["name"] for t in (await http.get("/tools", headers=support)).json()["tools"]
            }
            assert (await ask({"message": QUESTION}, support)).status_code == 403

            ready = await http.get(demo.rest_url.removesuffix("/v1") + "/readyz")
            assert ready.json()["backends"]["product_advisor"]["status"] == "serving"

        # The advisor's card is public; its messages take only the gateway's credential.
        async with httpx.AsyncClient(base_url=advisor_url, timeout=10) as bare:
            card = (await bare.get("/.well-known/agent-card.json")).json()
            assert card["name"] == "Product Advisor"
            refused = await bare.post("/a2a", json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage"})
            assert refused.status_code == 401
