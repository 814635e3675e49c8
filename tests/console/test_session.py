"""Sessions end when they expire, when the key they logged in with changes, and cannot be forged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import itsdangerous.timed
import pytest

from pasarela.console.session import COOKIE, SessionCodec
from pasarela.identity.api_keys import hash_key
from tests.console.gateway import ADMIN_KEY, SESSION_KEY, console_app, console_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio
TTL = 8 * 3600.0
HTML = {"Accept": "text/html"}


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with ThreadedServer(RecordingUpstream()) as server:
        yield console_config(tmp_path, server.url, extra='console: {session_key: "${secret:SESSION_KEY}"}\n')


def cookie(principal: str, key: str, *, age: float = 0.0, signing_key: str = SESSION_KEY) -> str:
    codec = SessionCodec(signing_key.encode(), TTL)
    if not age:
        return codec.issue(principal, hash_key(key))[1]
    real = time.time
    itsdangerous.timed.time.time = lambda: real() - age  # type: ignore[attr-defined]
    try:
        return codec.issue(principal, hash_key(key))[1]
    finally:
        itsdangerous.timed.time.time = real  # type: ignore[attr-defined]


async def test_a_session_is_accepted_only_while_fresh_signed_and_bound_to_the_current_key(
    config: Path,
) -> None:
    async with console_app(config) as client:
        cases = {
            "fresh": (cookie("ops", ADMIN_KEY), 200),
            "expired": (cookie("ops", ADMIN_KEY, age=TTL + 60), 303),
            "rotated key": (cookie("ops", "the-key-ops-had-before-rotation"), 303),
            "another signer": (cookie("ops", ADMIN_KEY, signing_key="x" * 40), 303),
            "unknown principal": (cookie("ghost", ADMIN_KEY), 303),
            "garbage": ("not.a.cookie", 303),
        }
        for case, (value, status) in cases.items():
            client.cookies.clear()
            client.cookies.set(COOKIE, value, domain="127.0.0.1", path="/admin")
            response = await client.get("/admin", headers=HTML)
            assert response.status_code == status, case


async def test_a_session_of_a_principal_without_the_role_is_refused(config: Path) -> None:
    async with console_app(config) as client:
        client.cookies.set(
            COOKIE, cookie("reader", "reader-key-0000000000000001"), domain="127.0.0.1", path="/admin"
        )
        assert (await client.get("/admin", headers=HTML)).status_code == 403


def test_the_csrf_token_belongs_to_one_session() -> None:
    codec = SessionCodec(SESSION_KEY.encode(), TTL)
    one, _ = codec.issue("ops", hash_key(ADMIN_KEY))
    two, _ = codec.issue("ops", hash_key(ADMIN_KEY))
    assert codec.csrf_token(one) != codec.csrf_token(two)
    assert SESSION_KEY not in codec.csrf_token(one)
