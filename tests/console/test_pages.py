"""What the pages show, from real calls through the gateway; and what the actions do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from pasarela.config import load_config
from pasarela.state import open_state
from pasarela.telemetry.kpis import compute_kpis
from tests.console.gateway import (
    ADMIN_KEY,
    ENV,
    READER_KEY,
    WRITER_KEY,
    audit_rows,
    bearer,
    console_app,
    console_config,
    csrf_of,
    edit_description,
    log_in,
)
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with ThreadedServer(RecordingUpstream()) as server:
        yield console_config(tmp_path, server.url)


async def calls(client: httpx.AsyncClient) -> None:
    for item in ("1", "1", "2"):  # the second is a cache hit
        answer = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": item}}, headers=bearer(READER_KEY)
        )
        assert answer.status_code == 200, answer.text
    denied = await client.post(
        "/v1/tools/greet:call", json={"arguments": {"name": "mallory"}}, headers=bearer(READER_KEY)
    )
    assert denied.status_code == 403
    added = await client.post(
        "/v1/tools/add_numbers:call", json={"arguments": {"a": 1, "b": 2}}, headers=bearer(WRITER_KEY)
    )
    assert added.status_code == 200


async def test_the_overview_shows_kpis_charts_and_slo_budgets(config: Path) -> None:
    async with console_app(config) as client:
        await calls(client)
        await audit_rows(client, "tool=getItem", "getItem", 3)
        page = (await client.get("/admin", headers=bearer(ADMIN_KEY))).text
        assert '<b id="kpi-calls">5</b>' in page  # 3 reads, 1 denial, 1 addition
        assert page.count('<svg class="chart"') == 5
        assert "33.33 %" in page  # getItem's cache: one hit in three lookups
        assert "Calls by backend" in page and "<title>p95 latency by backend</title>" in page
        assert "<td>items</td><td>3</td><td>100.00 %</td>" in page  # calls, availability
        assert "reader" in page and "writer" in page  # top agents
        assert "backend/items/availability" in page and "100 % left" in page
        # The console's own records (the audit search above) are no calls: not in the KPIs.
        assert ">ops<" not in page.split('id="live"')[1]


async def test_backends_show_breaker_and_bulkhead(config: Path) -> None:
    async with console_app(config) as client:
        await calls(client)
        page = (await client.get("/admin/backends", headers=bearer(ADMIN_KEY))).text
        assert '<span class="state closed">closed</span>' in page
        assert "0 / 50 in flight, 0 waiting" in page
        assert "<td>openapi</td>" in page and "<td>python</td>" in page


async def test_explain_names_the_deciding_policies_and_is_audited(config: Path) -> None:
    async with console_app(config) as client:
        await log_in(client)
        token = csrf_of((await client.get("/admin/policies")).text)
        form = {"csrf": token, "principal": "reader", "tool": "greet", "door": "rest"}
        allowed = await client.post("/admin/policies/explain", data={**form, "arguments": '{"name": "ann"}'})
        assert "<h3>ALLOW</h3>" in allowed.text and "access.reader" in allowed.text
        denied = await client.post(
            "/admin/policies/explain", data={**form, "arguments": '{"name": "mallory"}'}
        )
        assert "<h3>DENY</h3>" in denied.text and "forbid" in denied.text
        bad = await client.post("/admin/policies/explain", data={**form, "arguments": "[1"})
        assert bad.status_code == 400 and "not valid JSON" in bad.text
        unknown = await client.post(
            "/admin/policies/explain", data={**form, "principal": "ghost", "arguments": "{}"}
        )
        assert unknown.status_code == 400 and "unknown principal" in unknown.text
        await audit_rows(client, "principal=ops&outcome=policy_explained", "policy_explained", 2)


async def test_audit_search_filters_and_the_chain_verifies(config: Path) -> None:
    async with console_app(config) as client:
        await calls(client)
        await log_in(client)
        page = await audit_rows(client, "principal=reader&tool=greet", "greet")
        assert "<td>deny</td>" in page and "mallory" in page
        assert "<td>getItem</td>" not in page
        token = csrf_of((await client.get("/admin/audit")).text)
        verified = await client.post("/admin/audit/verify", data={"csrf": token}, follow_redirects=True)
        assert 'id="verdict">intact</span>' in verified.text and "by ops" in verified.text
        bad = await client.get("/admin/audit?since=yesterday&search=1", headers=bearer(ADMIN_KEY))
        assert bad.status_code == 400 and "since:" in bad.text
        await audit_rows(client, "outcome=audit_verified", "audit_verified")


async def test_costs_jobs_and_events_pages(config: Path) -> None:
    async with console_app(config) as client:
        await calls(client)
        for _ in range(100):  # the ledger writes in batches
            costs = (await client.get("/admin/costs", headers=bearer(ADMIN_KEY))).text
            if "<td>0.5000</td>" in costs:
                break
            await anyio.sleep(0.05)
        # Three reads, one a cache hit: two charges of 0.25 (a cache hit costs nothing).
        assert "<td>reader</td><td>0.5000</td><td>EUR</td><td>2</td>" in costs
        jobs = await client.get("/admin/jobs?status=queued", headers=bearer(ADMIN_KEY))
        assert jobs.status_code == 200 and "no jobs" in jobs.text
        events = await client.get("/admin/events", headers=bearer(ADMIN_KEY))
        assert events.status_code == 200 and "no event source configured" in events.text


async def test_a_quarantined_tool_is_shown_with_its_diff_and_approved(config: Path, tmp_path: Path) -> None:
    async with console_app(config):
        pass  # the first start pins every tool
    edit_description(tmp_path)
    async with console_app(config) as client:
        refused = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
        )
        assert refused.status_code == 409
        await log_in(client)
        page = (await client.get("/admin/tools")).text
        assert 'id="q-getItem"' in page
        assert "-  &#34;description&#34;: &#34;Get one item&#34;," in page
        assert "+  &#34;description&#34;: &#34;Get one item (and more)&#34;," in page
        approved = await client.post(
            "/admin/tools/getItem/approve", data={"csrf": csrf_of(page)}, follow_redirects=True
        )
        assert "getItem approved and served now" in approved.text
        assert 'id="q-getItem"' not in approved.text
        served = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
        )
        assert served.status_code == 200, served.text
        await audit_rows(client, "principal=ops&tool=getItem", "tool_approved")
        unknown = await client.post("/admin/tools/nothing/approve", data={"csrf": csrf_of(page)})
        assert unknown.status_code == 404


async def test_console_actions_are_not_counted_as_calls(config: Path) -> None:
    async with console_app(config) as client:
        await log_in(client)
        await audit_rows(client, "principal=ops&outcome=console_login", "console_login")
    loaded = load_config(config, environ=ENV)
    store = await open_state(loaded.settings.state, loaded.base_dir, source=loaded.source, schema="check")
    try:
        report = await compute_kpis(store, 0)
    finally:
        await store.aclose()
    assert "ops" not in report.agents and report.records == 0


async def test_the_first_load_stays_under_200_kb(config: Path) -> None:
    """The budget in bytes (times are measured by bench/console.py, never asserted)."""
    async with console_app(config) as client:
        await calls(client)
        page = await client.get("/admin", headers=bearer(ADMIN_KEY))
        assets = [await client.get(f"/admin/static/{name}") for name in ("console.css", "console.js")]
        assert (
            'href="/admin/static/console.css"' in page.text and 'src="/admin/static/console.js"' in page.text
        )
        assert "https://" not in page.text  # nothing from elsewhere
        assert len(page.content) + sum(len(a.content) for a in assets) < 200_000


async def test_the_assets_ship_with_the_package(config: Path) -> None:
    async with console_app(config) as client:
        css = await client.get("/admin/static/console.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        again = await client.get("/admin/static/console.css", headers={"If-None-Match": css.headers["etag"]})
        assert again.status_code == 304
        assert (await client.get("/admin/static/../pasarela.yaml")).status_code == 404
        assert (await client.get("/admin/static/routes.py")).status_code == 404
        assert ADMIN_KEY not in css.text
