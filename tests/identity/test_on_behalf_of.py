"""Acting on behalf of an end user: the user's own token is verified, reaches policy and logs,
and never reaches a backend."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pasarela.telemetry import configure_logging
from tests.helpers.gateway import READER_KEY, bearer, in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream
from tests.identity.test_jwt import KEY_A, Jwks, public_jwk, token

pytestmark = pytest.mark.anyio
USERS_ISSUER = "https://login.bank.test/customers"
USERS_AUDIENCE = "pasarela-users"
POLICY = """policies: |
  @id("own-region-only")
  @reason("you may only act for users of your own region")
  forbid(principal, action == Action::"call", resource == Tool::"getItem")
  when { context has on_behalf_of && context.on_behalf_of has region && principal has region
         && context.on_behalf_of.region != principal.region };

  @id("tellers-only")
  forbid(principal, action == Action::"call", resource == Tool::"searchItems")
  unless { context has on_behalf_of && context.on_behalf_of.roles.contains("teller") };
"""


def user_token(**overrides: object) -> str:
    claims = {"iss": USERS_ISSUER, "aud": USERS_AUDIENCE, "sub": "alice", "roles": ["teller"], "region": "EU"}
    return token(**{**claims, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, RecordingUpstream]]:
    recorder = RecordingUpstream()
    with ThreadedServer(Jwks([public_jwk(KEY_A, "a")])) as idp, ThreadedServer(recorder) as upstream:
        identity = (
            "  on_behalf_of:\n"
            "    header: X-On-Behalf-Of\n"
            "    jwt:\n"
            f"      issuer: {USERS_ISSUER}\n"
            f"      audience: {USERS_AUDIENCE}\n"
            f"      jwks_url: {idp.url}/certs\n"
            "      attributes: {region: region}\n"
        )
        yield write_config(tmp_path, upstream.url, identity=identity, extra=POLICY), recorder


def acting_for(user: str) -> dict[str, str]:
    return {**bearer(READER_KEY), "X-On-Behalf-Of": f"Bearer {user}"}


async def test_the_user_reaches_policy(setup: tuple[Path, RecordingUpstream]) -> None:
    config, upstream = setup
    async with in_process(config) as (client, _):
        eu = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=acting_for(user_token())
        )
        us = await client.post(
            "/v1/tools/getItem:call",
            json={"arguments": {"item_id": "2"}},
            headers=acting_for(user_token(region="US")),
        )
        teller = await client.post(
            "/v1/tools/searchItems:call", json={"arguments": {}}, headers=acting_for(user_token())
        )
        customer = await client.post(
            "/v1/tools/searchItems:call",
            json={"arguments": {}},
            headers=acting_for(user_token(roles=["customer"])),
        )
        alone = await client.post(
            "/v1/tools/searchItems:call", json={"arguments": {}}, headers=bearer(READER_KEY)
        )
    assert eu.status_code == 200
    assert us.status_code == 403
    assert "your own region" in us.json()["detail"]
    assert (teller.status_code, customer.status_code, alone.status_code) == (200, 403, 403)
    for seen in upstream.seen:
        assert "x-on-behalf-of" not in seen.headers, "the user's token never reaches a backend"
        assert all("eyJ" not in value for value in seen.headers.values())


@pytest.mark.parametrize(
    "user",
    [
        pytest.param(lambda: user_token(aud="pasarela"), id="agent-audience"),
        pytest.param(lambda: user_token(iss="https://evil.test"), id="wrong-issuer"),
        pytest.param(lambda: user_token(exp=1), id="expired"),
        pytest.param(lambda: "alice", id="asserted-not-verified"),
    ],
)
async def test_a_bad_user_token_is_401_not_agent_only(
    setup: tuple[Path, RecordingUpstream], user: object
) -> None:
    config, upstream = setup
    async with in_process(config) as (client, _):
        response = await client.post(
            "/v1/tools/getItem:call",
            json={"arguments": {"item_id": "1"}},
            headers=acting_for(user()),  # type: ignore[operator]
        )
    assert response.status_code == 401
    assert upstream.seen == []


async def test_without_configuration_the_header_is_refused(tmp_path: Path) -> None:
    with ThreadedServer(RecordingUpstream()) as upstream:
        config = write_config(tmp_path, upstream.url)
        async with in_process(config) as (client, _):
            response = await client.get("/v1/tools", headers=acting_for(user_token()))
    assert response.status_code == 401
    assert "not configured" in response.json()["detail"]


async def test_both_identities_are_logged(setup: tuple[Path, RecordingUpstream]) -> None:
    config, _ = setup
    stream = io.StringIO()
    async with in_process(config) as (client, runtime):
        configure_logging(runtime.config.redactor, stream=stream)
        await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=acting_for(user_token())
        )
    call = next(orjson.loads(line) for line in stream.getvalue().splitlines() if '"tool_call"' in line)
    assert (call["principal"], call["on_behalf_of"]) == ("reader", "alice")
