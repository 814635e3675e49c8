"""The console end to end in a real browser: Playwright driving Debian's chromium against
`pasarela serve` with a quarantined tool. An admin logs in, sees the KPIs, approves the tool,
explains a decision and searches the audit; the support bot is refused.

Screenshots go to the test's directory, or to $PASARELA_CONSOLE_SCREENSHOTS (docs/images)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.console.browser import chromium_path
from tests.console.gateway import (
    ADMIN_KEY,
    ENV,
    READER_KEY,
    SUPPORT_KEY,
    console_config,
    edit_description,
)
from tests.helpers.processes import Served, served
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 20_000


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Served]:
    with ThreadedServer(RecordingUpstream()) as upstream:
        config = console_config(tmp_path, upstream.url)
        port = free_port()
        with served(config, port, ENV):
            pass  # the first start pins every tool
        edit_description(tmp_path)  # then getItem changes at its backend: quarantined
        with served(config, port, ENV) as gateway:
            yield gateway


def agent_calls(url: str) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {READER_KEY}"}, timeout=10) as client:
        for name in ("ann", "bob", "mallory"):  # mallory is denied by a Cedar forbid
            client.post("/v1/tools/greet:call", json={"arguments": {"name": name}})
        client.post("/v1/tools/searchItems:call", json={"arguments": {"limit": 2}})
        assert client.post("/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}).status_code == 409


def test_an_admin_runs_the_console_and_the_support_bot_is_refused(gateway: Served, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_path()
    shots = Path(os.environ.get("PASARELA_CONSOLE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    agent_calls(gateway.url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            # Not logged in: the login form.
            page.goto(f"{gateway.url}/admin")
            expect(page).to_have_url(f"{gateway.url}/admin/login")
            page.fill("input[name=api_key]", ADMIN_KEY)
            page.click("text=Log in")
            # The overview: KPIs from the calls above, and their charts.
            expect(page).to_have_url(f"{gateway.url}/admin")
            expect(page.locator("#kpi-calls")).to_have_text(re.compile(r"^[1-9]\d*$"))
            expect(page.locator("svg.chart")).to_have_count(
                4
            )  # no cache configured for these tools' calls yet
            expect(page.locator("header .who")).to_contain_text("ops")
            page.screenshot(path=str(shots / "console-overview.png"), full_page=True)
            # Tools: the quarantined tool, its diff, Approve.
            page.click("nav >> text=Tools")
            quarantined = page.locator("#q-getItem")
            expect(quarantined.locator("pre.diff")).to_contain_text("Get one item (and more)")
            quarantined.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "console-quarantine.png"))
            page.click("text=Approve getItem")
            expect(page.locator("p.message")).to_contain_text("getItem approved and served now")
            expect(page.locator("#q-getItem")).to_have_count(0)
            answer = httpx.post(
                f"{gateway.url}/v1/tools/getItem:call",
                json={"arguments": {"item_id": "1"}},
                headers={"Authorization": f"Bearer {READER_KEY}"},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            # Policies: explain a denial.
            page.click("nav >> text=Policies")
            page.fill("input[name=principal]", "reader")
            page.fill("input[name=tool]", "greet")
            page.fill("textarea[name=arguments]", '{"name": "mallory"}')
            page.click("#explain >> text=Explain")
            expect(page.locator("#decision h3")).to_have_text("DENY")
            expect(page.locator("#decision")).to_contain_text("forbid")
            page.screenshot(path=str(shots / "console-explain.png"), full_page=True)
            # Audit: search the admin's own actions (they are written a moment after each one).
            page.click("nav >> text=Audit")
            page.fill("#search input[name=principal]", "ops")
            page.click("#search >> text=Search")
            rows = page.locator("#records tbody")
            for outcome in ("console_login", "tool_approved", "policy_explained"):
                for _ in range(50):
                    if rows.get_by_text(outcome, exact=True).count():
                        break
                    page.wait_for_timeout(100)
                    page.reload()
                expect(rows.get_by_text(outcome, exact=True).first).to_be_visible()
            page.click("text=Verify the chain now")
            expect(page.locator("#verdict")).to_have_text("intact")
            page.screenshot(path=str(shots / "console-audit.png"))
            # The support bot: refused at login, nothing of the console shown.
            other = browser.new_page()
            other.set_default_timeout(TIMEOUT_MS)
            other.goto(f"{gateway.url}/admin/login")
            other.fill("input[name=api_key]", SUPPORT_KEY)
            other.click("text=Log in")
            expect(other.locator("h1")).to_have_text("Forbidden")
            expect(other.locator("body")).to_contain_text("support-bot may not use the console")
            assert other.locator("nav").count() == 0
            other.goto(f"{gateway.url}/admin/tools")
            expect(other).to_have_url(f"{gateway.url}/admin/login")  # no session was given
        finally:
            browser.close()
