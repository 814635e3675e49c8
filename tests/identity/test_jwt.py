"""JWT/OIDC bearer tokens through the REST door, against a real JWKS endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.types import Receive, Scope, Send

from tests.helpers.gateway import bearer, in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio
ISSUER = "https://idp.bank.test/realms/agents"
AUDIENCE = "pasarela"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY_A, KEY_B, FOREIGN = new_key(), new_key(), new_key()


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


@dataclass
class Jwks:
    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.fetches += 1
        body = json.dumps({"keys": self.keys}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def token(key: rsa.RSAPrivateKey = KEY_A, kid: str = "a", algorithm: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "agent-7",
        "iat": now,
        "exp": now + 300,
        "roles": ["reader"],
        "region": "EU",
        "org": {"tenant": "retail"},
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def jwks() -> Iterator[tuple[Jwks, str]]:
    endpoint = Jwks([public_jwk(KEY_A, "a")])
    with ThreadedServer(endpoint) as server:
        yield endpoint, f"{server.url}/certs"


@pytest.fixture
def config(tmp_path: Path, jwks: tuple[Jwks, str]) -> Iterator[Path]:
    identity = (
        "  jwt:\n"
        f"    issuer: {ISSUER}\n"
        f"    audience: {AUDIENCE}\n"
        f"    jwks_url: {jwks[1]}\n"
        "    roles_claim: roles\n"
        "    attributes: {region: region, tenant: org.tenant}\n"
        "    leeway: 0s\n"
        "    jwks_refetch_interval: 1s\n"
    )
    with ThreadedServer(RecordingUpstream()) as upstream:
        yield write_config(tmp_path, upstream.url, identity=identity)


async def status(client: Any, credential: str) -> int:
    response = await client.get("/v1/tools", headers=bearer(credential))
    return int(response.status_code)


async def test_a_valid_token_maps_roles_and_attributes(config: Path) -> None:
    policy_free = token()
    async with in_process(config) as (client, runtime):
        response = await client.get("/v1/tools", headers=bearer(policy_free))
        principal = await runtime.authenticator.authenticate(f"Bearer {policy_free}")
    assert response.status_code == 200
    assert [t["name"] for t in response.json()["tools"]] == ["getItem", "searchItems", "greet", "explode"]
    assert principal.id == "agent-7"
    assert principal.roles == frozenset({"reader"})
    assert principal.attributes == {"region": "EU", "tenant": "retail"}


def hs256_with_public_key() -> str:
    pem = KEY_A.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": "a", "typ": "JWT"}
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "agent-7", "exp": now + 300}
    return _hmac_token(pem, header, claims)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_token(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def unsigned() -> str:
    now = int(time.time())
    return _none_token(
        {"alg": "none", "kid": "a"}, {"iss": ISSUER, "aud": AUDIENCE, "sub": "agent-7", "exp": now + 300}
    )


def _none_token(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def tampered() -> str:
    head, payload, signature = token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["writer"]
    forged = b64(json.dumps(claims).encode())
    return f"{head}.{forged}.{signature}"


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(lambda: token(aud="crm-backend"), id="wrong-audience"),
        pytest.param(lambda: token(iss="https://evil.test"), id="wrong-issuer"),
        pytest.param(lambda: token(exp=int(time.time()) - 5), id="expired"),
        pytest.param(lambda: token(nbf=int(time.time()) + 600), id="not-yet-valid"),
        pytest.param(unsigned, id="alg-none"),
        pytest.param(lambda: token(key=FOREIGN), id="foreign-key"),
        pytest.param(tampered, id="tampered-payload"),
        pytest.param(hs256_with_public_key, id="hs-rs-confusion"),
        pytest.param(lambda: token(sub=None), id="no-subject"),
        pytest.param(lambda: token(sub="reader"), id="subject-is-an-api-key-principal"),
        pytest.param(lambda: "eyJhbGciOiJSUzI1NiJ9.not-json.sig", id="garbage"),
    ],
)
async def test_bad_tokens_get_401(config: Path, credential: Any) -> None:
    async with in_process(config) as (client, _):
        response = await client.get("/v1/tools", headers=bearer(credential()))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


async def test_unknown_kid_refetches_once_then_keys_rotate_in(config: Path, jwks: tuple[Jwks, str]) -> None:
    endpoint, _ = jwks
    async with in_process(config) as (client, _):
        assert await status(client, token()) == 200
        assert endpoint.fetches == 1
        await anyio.sleep(1.1)
        assert await status(client, token(key=KEY_B, kid="b")) == 401
        assert endpoint.fetches == 2, "an unknown kid refetches the JWKS"
        assert await status(client, token(key=KEY_B, kid="b")) == 401
        assert await status(client, token(key=KEY_B, kid="c")) == 401
        assert endpoint.fetches == 2, "but at most once per refetch interval"
        endpoint.keys.append(public_jwk(KEY_B, "b"))  # the provider rotates in a new key
        await anyio.sleep(1.1)
        assert await status(client, token(key=KEY_B, kid="b")) == 200
        assert await status(client, token()) == 200
    assert endpoint.fetches == 3


async def test_jwt_principals_are_authorized_by_policy(config: Path) -> None:
    config.write_text(
        config.read_text()
        + 'policies: |\n  forbid(principal, action == Action::"call", resource == Tool::"greet")\n'
        + '  unless { principal has tenant && principal.tenant == "retail" };\n'
    )
    async with in_process(config) as (client, _):
        ok = await client.post(
            "/v1/tools/greet:call", json={"arguments": {"name": "a"}}, headers=bearer(token())
        )
        other = await client.post(
            "/v1/tools/greet:call",
            json={"arguments": {"name": "a"}},
            headers=bearer(token(org={"tenant": "corp"})),
        )
    assert ok.status_code == 200
    assert other.status_code == 403
