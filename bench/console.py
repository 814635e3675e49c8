"""Benchmark: the console's first load — bytes of HTML + CSS + JS for /admin, and how long it takes.

    .venv/bin/python -m bench.console [--loads 20] [--calls 300]

Starts `pasarela serve` with the console tests' configuration (tests/console/gateway.py), makes
`--calls` agent calls so the overview has figures to chart, logs in as the admin in Debian's
chromium (Playwright), then loads /admin `--loads` times, each in a fresh browser context (an
empty cache: a first load every time). Reads the browser's Navigation and Resource Timing
entries: bytes transferred (headers included) and decoded, time to the HTML's last byte, to
DOMContentLoaded and to the load event. Also prints each page's HTML size, fetched with the
admin's bearer key.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import httpx
from tests.console.browser import CHROMIUM_PATHS
from tests.console.gateway import ADMIN_KEY, ENV, READER_KEY, console_config
from tests.helpers.processes import served
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream

PAGES = [
    "/admin",
    "/admin/backends",
    "/admin/tools",
    "/admin/policies",
    "/admin/audit",
    "/admin/costs",
    "/admin/jobs",
    "/admin/events",
]
TIMING = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource').map(r => ({
    name: r.name, transfer: r.transferSize, decoded: r.decodedBodySize}));
  return {transfer: nav.transferSize, decoded: nav.decodedBodySize, response_end: nav.responseEnd,
          dom_content_loaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, resources};
}"""


def agent_calls(url: str, count: int) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {READER_KEY}"}, timeout=10) as client:
        for n in range(count):
            tool, arguments = [
                ("getItem", {"item_id": str(n % 7)}),
                ("searchItems", {"limit": 3}),
                ("greet", {"name": "mallory" if n % 10 == 0 else "ann"}),
            ][n % 3]
            client.post(f"/v1/tools/{tool}:call", json={"arguments": arguments})


def first_loads(url: str, loads: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    executable = next(p for p in CHROMIUM_PATHS if Path(p).exists())
    found = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        login = browser.new_context()
        page = login.new_page()
        page.goto(f"{url}/admin/login")
        page.fill("input[name=api_key]", ADMIN_KEY)
        page.click("text=Log in")
        page.wait_for_url(f"{url}/admin")
        cookies = login.cookies()
        login.close()
        for _ in range(loads):
            context = browser.new_context()  # an empty cache: every load is a first load
            context.add_cookies(cookies)  # type: ignore[arg-type]
            page = context.new_page()
            page.goto(f"{url}/admin", wait_until="load")
            found.append(page.evaluate(TIMING))
            context.close()
        browser.close()
    return found


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered):7.1f}  p95 {p95:7.1f}  min {ordered[0]:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--calls", type=int, default=300)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, ThreadedServer(RecordingUpstream()) as upstream:
        config = console_config(Path(scratch), upstream.url)
        with served(config, free_port(), ENV) as gateway:
            agent_calls(gateway.url, options.calls)
            with httpx.Client(
                base_url=gateway.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            ) as client:
                print("page sizes (HTML, bytes):")
                for path in PAGES:
                    print(f"  {path:<18} {len(client.get(path).content):>8}")
                for asset in ("console.css", "console.js"):
                    print(f"  {asset:<18} {len(client.get(f'/admin/static/{asset}').content):>8}")
            loads = first_loads(gateway.url, options.loads)
    totals = [load["transfer"] + sum(r["transfer"] for r in load["resources"]) for load in loads]
    decoded = [load["decoded"] + sum(r["decoded"] for r in load["resources"]) for load in loads]
    print(f"\nfirst load of /admin, {len(loads)} fresh contexts (HTML + CSS + JS):")
    print(f"  transferred bytes (with headers): {summary([float(t) for t in totals])}")
    print(f"  decoded bytes:                    {summary([float(d) for d in decoded])}")
    print(f"  requests per load:                {1 + len(loads[0]['resources'])}")
    print(f"  HTML last byte (ms):              {summary([load['response_end'] for load in loads])}")
    print(f"  DOMContentLoaded (ms):            {summary([load['dom_content_loaded'] for load in loads])}")
    print(f"  load event (ms):                  {summary([load['load'] for load in loads])}")


if __name__ == "__main__":
    main()
