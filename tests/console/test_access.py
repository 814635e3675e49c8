"""Who gets in: admins by bearer key or session; everyone else refused before anything is rendered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.gateway import (
    ADMIN_KEY,
    READER_KEY,
    audit_rows,
    bearer,
    console_app,
    console_config,
    csrf_of,
    log_in,
)
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio
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
NAV = "/admin/backends"  # in every console page's navigation, in no refusal


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with ThreadedServer(RecordingUpstream()) as server:
        yield console_config(tmp_path, server.url)


async def test_every_page_answers_an_admin_by_bearer_key(config: Path) -> None:
    async with console_app(config) as client:
        for path in PAGES:
            response = await client.get(path, headers=bearer(ADMIN_KEY))
            assert response.status_code == 200, (path, response.text[:500])
            assert response.headers["content-type"].startswith("text/html")
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert response.headers["cache-control"] == "no-store"
            assert NAV in response.text


async def test_an_agent_without_the_admin_role_gets_403_and_nothing_rendered(config: Path) -> None:
    async with console_app(config) as client:
        for path in PAGES:
            response = await client.get(path, headers=bearer(READER_KEY))
            assert response.status_code == 403, path
            assert NAV not in response.text and "<table" not in response.text
            assert "reader may not use the console" in response.text
        # An action too, even with a form that looks right.
        refused = await client.post(
            "/admin/tools/getItem/approve", data={"csrf": "x"}, headers=bearer(READER_KEY)
        )
        assert refused.status_code == 403
        # The refusals are in the audit trail.
        await audit_rows(
            client, "principal=reader&outcome=console_refused", "console_refused", len(PAGES) + 1
        )


async def test_anonymous_browsers_go_to_the_login_form_and_scripts_get_401(config: Path) -> None:
    async with console_app(config) as client:
        browser = await client.get("/admin/tools", headers={"Accept": "text/html"})
        assert browser.status_code == 303 and browser.headers["location"] == "/admin/login"
        script = await client.get("/admin/tools")
        assert script.status_code == 401 and script.headers["www-authenticate"].startswith("Bearer")
        assert NAV not in script.text
        wrong = await client.get("/admin", headers=bearer("not-a-key-at-all"))
        assert wrong.status_code == 401


async def test_login_sets_a_strict_httponly_session_cookie(config: Path) -> None:
    async with console_app(config) as client:
        response = await log_in(client)
        assert response.status_code == 303 and response.headers["location"] == "/admin"
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("pasarela_console="))
        attributes = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/admin"} <= attributes
        assert "secure" not in attributes  # plain http: a Secure cookie would never come back
        assert ADMIN_KEY not in cookie
        page = await client.get("/admin")
        assert page.status_code == 200 and "ops" in page.text


async def test_over_https_the_cookie_is_secure(config: Path) -> None:
    async with console_app(config, base_url="https://127.0.0.1:8443") as client:
        response = await log_in(client)
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("pasarela_console="))
        assert "secure" in {part.strip().lower() for part in cookie.split(";")}


async def test_login_refuses_bad_keys_non_admins_and_forged_forms(config: Path) -> None:
    async with console_app(config) as client:
        bad = await log_in(client, "nope-nope-nope")
        assert bad.status_code == 401 and "not valid" in bad.text
        agent = await log_in(client, READER_KEY)
        assert agent.status_code == 403 and "pasarela_console=" not in agent.headers.get("set-cookie", "")
        await client.get("/admin/login")  # a login cookie, but not this form's token
        forged = await client.post("/admin/login", data={"csrf": "0" * 64, "api_key": ADMIN_KEY})
        assert forged.status_code == 403
        client.cookies.clear()
        form = await client.get("/admin/login")
        token = csrf_of(form.text)
        client.cookies.clear()  # the token without its cookie (another browser's form)
        stolen = await client.post("/admin/login", data={"csrf": token, "api_key": ADMIN_KEY})
        assert stolen.status_code == 403
        await audit_rows(client, "outcome=console_login_failed", "console_login_failed")
        await audit_rows(client, "principal=reader&outcome=console_login_refused", "console_login_refused")


async def test_state_changing_forms_need_the_session_csrf_token_and_same_origin(config: Path) -> None:
    async with console_app(config) as client:
        await log_in(client)
        token = csrf_of((await client.get("/admin/policies")).text)
        explain = {"principal": "reader", "tool": "getItem", "arguments": "{}", "door": "rest"}
        missing = await client.post("/admin/policies/explain", data=explain)
        assert missing.status_code == 403
        wrong = await client.post("/admin/policies/explain", data={**explain, "csrf": "f" * 64})
        assert wrong.status_code == 403
        elsewhere = await client.post(
            "/admin/policies/explain",
            data={**explain, "csrf": token},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert elsewhere.status_code == 403
        ok = await client.post(
            "/admin/policies/explain",
            data={**explain, "csrf": token},
            headers={"Origin": "http://127.0.0.1:8080"},
        )
        assert ok.status_code == 200 and "ALLOW" in ok.text


async def test_a_tampered_cookie_or_one_from_another_key_is_no_session(config: Path) -> None:
    async with console_app(config) as client:
        await log_in(client)
        value = client.cookies["pasarela_console"]
        client.cookies.set(
            "pasarela_console", value[:-2] + ("AA" if not value.endswith("AA") else "BB"), path="/admin"
        )
        response = await client.get("/admin", headers={"Accept": "text/html"})
        assert response.status_code == 303


async def test_logging_out_ends_the_session(config: Path) -> None:
    async with console_app(config) as client:
        await log_in(client)
        token = csrf_of((await client.get("/admin")).text)
        out = await client.post("/admin/logout", data={"csrf": token})
        assert out.status_code == 303
        assert (await client.get("/admin", headers={"Accept": "text/html"})).status_code == 303


async def test_repeated_failed_logins_from_one_address_are_held_off(config: Path) -> None:
    async with console_app(config) as client:
        statuses = [(await log_in(client, f"guess-{n:04d}-xxxxxxxx")).status_code for n in range(12)]
        assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
        held = await log_in(client)  # even the right key, until the window passes
        assert held.status_code == 429 and held.headers["retry-after"] == "60"
        assert (await client.get("/admin", headers=bearer(ADMIN_KEY))).status_code == 200  # bearer unaffected


async def test_the_console_can_be_turned_off(tmp_path: Path) -> None:
    with ThreadedServer(RecordingUpstream()) as server:
        config = console_config(tmp_path, server.url, extra="console: {enabled: false}\n")
        async with console_app(config) as client:
            assert (await client.get("/admin", headers=bearer(ADMIN_KEY))).status_code == 404
            assert (await client.get("/admin/login")).status_code == 404
