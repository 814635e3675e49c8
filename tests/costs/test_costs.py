"""Costs recorded per call in the durable store, showback, and budgets that warn or deny."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from pasarela.costs import CostLedger
from pasarela.costs.showback import showback
from pasarela.state.tables import costs
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, bearer, gateway_for
from tests.helpers.processes import run_pasarela
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio

PRICES = """\
tools:
  getItem: {cache: {ttl: 1m}}
  searchItems:
    cost: {per_unit: 0.5, units: length(query), currency: EUR}
budgets:
  - {principals: [reader], limit: 0.025, currency: EUR, per: day, action: deny}
  - {roles: [writer], limit: 0.005, currency: EUR, per: month, action: warn}
"""
ITEMS_COST = "    cost: {per_call: 0.01, currency: EUR}\n"


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    recorder = RecordingUpstream()
    with ThreadedServer(recorder) as server:
        recorder.url = server.url  # type: ignore[attr-defined]
        yield recorder


async def test_calls_are_charged_budgets_deny_and_warn_and_showback_adds_up(
    tmp_path: Path, upstream: RecordingUpstream, state_url: str
) -> None:
    get = "/v1/tools/getItem:call"
    url: str = upstream.url  # type: ignore[attr-defined]
    async with gateway_for(tmp_path, url, state=state_url, items=ITEMS_COST, extra=PRICES) as (
        client,
        runtime,
    ):
        first = await client.post(get, json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY))
        cached = await client.post(get, json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY))
        assert (first.json()["meta"]["cache"], cached.json()["meta"]["cache"]) == ("miss", "hit")
        for item in ("2", "3"):  # 0.01 each: 0.03 in all, past the budget of 0.025 only now
            answer = await client.post(get, json={"arguments": {"item_id": item}}, headers=bearer(READER_KEY))
            assert answer.status_code == 200, answer.text
        refused = await client.post(get, json={"arguments": {"item_id": "4"}}, headers=bearer(READER_KEY))
        assert refused.status_code == 429
        problem = refused.json()
        assert problem["code"] == "budget_exceeded" and problem["budget"] == "budgets[0]"
        assert (problem["limit"], problem["currency"]) == (0.025, "EUR")
        assert problem["spent"] == pytest.approx(0.03)
        assert "resets at the start of the next UTC day" in problem["detail"]
        assert 0 < int(refused.headers["retry-after"]) <= 86400
        again = await client.post(get, json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY))
        assert again.status_code == 200, "a cached answer costs nothing, so it is still served"
        assert len(upstream.seen) == 3, "the refused call never reached the backend"

        search = "/v1/tools/searchItems:call"
        found = await client.post(
            search, json={"arguments": {"tag": ["a", "b", "c"]}}, headers=bearer(WRITER_KEY)
        )
        assert found.status_code == 200 and "budget_warning" not in found.json()["meta"]
        warned = await client.post(search, json={"arguments": {"tag": ["a"]}}, headers=bearer(WRITER_KEY))
        assert warned.status_code == 200, "a warn budget serves the call"
        assert "budgets[1]" in warned.json()["meta"]["budget_warning"]
        metrics = (await client.get("/metrics")).text
        assert 'pasarela_cost_total{backend="items",currency="EUR",tool="getItem"} 0.03' in metrics
        assert 'pasarela_budget_exceeded_total{action="deny",agent="reader"} 1.0' in metrics
        assert runtime.costs is not None
        await runtime.costs.flush()
        async with runtime.state.engine.connect() as db:
            rows = (await db.execute(select(costs).order_by(costs.c.id))).all()
        assert [(r.principal, r.tool, r.amount, r.units) for r in rows] == [
            ("reader", "getItem", 0.01, None),
            ("reader", "getItem", 0.01, None),
            ("reader", "getItem", 0.01, None),
            ("writer", "searchItems", 1.5, 3.0),  # the tool's own price replaces its backend's
            ("writer", "searchItems", 0.5, 1.0),
        ]
        assert all(
            r.currency == "EUR" and r.seconds >= 0 and r.day == time.strftime("%Y-%m-%d", time.gmtime())
            for r in rows
        )
        # The spend is durable: a ledger opened afresh (another replica, a restart) sees it.
        fresh = CostLedger(runtime.state)
        assert await fresh.spent("reader", "day", "EUR", time.time()) == pytest.approx(0.03)
        assert await fresh.spent("writer", "month", "EUR", time.time()) == pytest.approx(2.0)
        report = (await showback(runtime.state, "2000-01-01", "month")).as_json()
    (month,) = report["periods"].values()
    assert {e["name"]: e["amount"] for e in month["agent"]} == {"writer": 2.0, "reader": 0.03}
    assert {e["name"]: e["amount"] for e in month["role"]} == {"writer": 2.0, "reader": 0.03}
    assert {e["name"]: e["amount"] for e in month["backend"]} == {"items": 2.03}
    assert {(e["name"], e["calls"]) for e in month["tool"]} == {("searchItems", 2), ("getItem", 3)}


async def test_the_costs_command_and_a_bad_price(tmp_path: Path, upstream: RecordingUpstream) -> None:
    async with gateway_for(tmp_path, upstream.url, items=ITEMS_COST) as (client, _):  # type: ignore[attr-defined]
        await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
        )
    config = tmp_path / "pasarela.yaml"
    printed = run_pasarela("costs", "--json", "--by", "day", "-c", str(config), env=ENV)
    assert printed.returncode == 0, printed.stderr
    (day,) = orjson.loads(printed.stdout)["periods"].values()
    assert day["agent"] == [
        {
            "name": "reader",
            "currency": "EUR",
            "calls": 1,
            "amount": 0.01,
            "units": 0.0,
            "seconds": day["agent"][0]["seconds"],
        }
    ]
    table = run_pasarela("costs", "-c", str(config), env=ENV)
    assert table.returncode == 0 and "by role" in table.stdout and "0.0100 EUR" in table.stdout
    config.write_text(config.read_text().replace("per_call: 0.01", "per_unit: 1, units: 'length(('"))
    broken = run_pasarela("check", "-c", str(config), env=ENV)
    assert broken.returncode == 1
    assert "backends.items.cost.units: not a JMESPath" in broken.stderr
