"""A table of odd bearer tokens and JWKS troubles: every one is a 401, never a 500."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jwt.algorithms import RSAAlgorithm
from starlette.types import Receive, Scope, Send

from tests.helpers.gateway import READER_KEY, bearer, in_process, write_config
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream
from tests.identity.test_jwt import AUDIENCE, ISSUER, KEY_A, public_jwk

pytestmark = pytest.mark.anyio


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_header(header: Any, claims: Any = None) -> str:
    """A token with this header (any JSON), unsigned: the header must be refused on its own."""
    payload = claims if claims is not None else {"sub": "agent-7"}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.c2lnbmF0dXJl"


def sign(header: dict[str, Any], payload: str) -> str:
    """Signed by the provider's own key, whatever the header and payload say."""
    head, body = b64(json.dumps(header).encode()), b64(payload.encode())
    signature = RSAAlgorithm(RSAAlgorithm.SHA256).sign(f"{head}.{body}".encode(), KEY_A)
    return f"{head}.{body}.{b64(signature)}"


def signed(claims: dict[str, Any], **header: Any) -> str:
    """A properly signed token whose claims may be odd."""
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "agent-7", "exp": now + 300}
    return sign({"alg": "RS256", "kid": "a", "typ": "JWT", **header}, json.dumps({**base, **claims}))


def raw_claims(text: str) -> str:
    return sign({"alg": "RS256", "kid": "a", "typ": "JWT"}, text)


ODD_TOKENS: dict[str, Callable[[], str]] = {
    "kid-array": lambda: with_header({"alg": "RS256", "kid": ["a"]}),
    "kid-number": lambda: with_header({"alg": "RS256", "kid": 7}),
    "kid-object": lambda: with_header({"alg": "RS256", "kid": {"a": 1}}),
    "kid-null": lambda: with_header({"alg": "RS256", "kid": None}),
    "kid-lone-surrogate": lambda: with_header({"alg": "RS256", "kid": "\ud800"}),
    "crit-unknown": lambda: with_header({"alg": "RS256", "kid": "a", "crit": ["exp-ext"], "exp-ext": 1}),
    "crit-not-a-list": lambda: with_header({"alg": "RS256", "kid": "a", "crit": "b64"}),
    "crit-empty": lambda: with_header({"alg": "RS256", "kid": "a", "crit": []}),
    "crit-unknown-signed": lambda: signed({}, crit=["exp-ext"]),
    "alg-array": lambda: with_header({"alg": ["RS256"], "kid": "a"}),
    "alg-object": lambda: with_header({"alg": {"RS256": 1}, "kid": "a"}),
    "alg-null": lambda: with_header({"alg": None, "kid": "a"}),
    "alg-none": lambda: with_header({"alg": "none", "kid": "a"}),
    "alg-unconfigured": lambda: with_header({"alg": "PS512", "kid": "a"}),
    "alg-long": lambda: with_header({"alg": "x" * 5000, "kid": "a"}),
    "header-array": lambda: with_header(["RS256"]),
    "header-string": lambda: with_header("RS256"),
    "header-deeply-nested": lambda: b64(b'{"alg":' + b"[" * 3000 + b"]" * 3000 + b"}") + ".e30.c2ln",
    "header-not-base64": lambda: "eyJ!!!.e30.c2ln",
    "header-not-json": lambda: "eyJub3QganNvbg.e30.c2ln",
    "header-not-utf8": lambda: "eyJ" + b64(b"\xff\xfe\xfd")[3:] + ".e30.c2ln",
    "signature-not-base64": lambda: signed({}).rsplit(".", 1)[0] + ".!!!",
    "too-long": lambda: signed({"pad": "x" * 20_000}),
    "claims-array": lambda: raw_claims("[1, 2]"),
    "claims-not-json": lambda: raw_claims("not json"),
    "claims-deeply-nested": lambda: raw_claims('{"sub":' + "[" * 3000 + "]" * 3000 + "}"),
    "exp-string": lambda: signed({"exp": "tomorrow"}),
    "exp-infinite": lambda: signed({"exp": 1e308 * 10}),
    "nbf-object": lambda: signed({"nbf": {"a": 1}}),
    "iat-nan": lambda: signed({"iat": float("nan")}),
    "aud-object": lambda: signed({"aud": {"x": AUDIENCE}}),
    "iss-array": lambda: signed({"iss": [ISSUER]}),
    "sub-number": lambda: signed({"sub": 7}),
    "sub-empty": lambda: signed({"sub": ""}),
}


@dataclass
class Jwks:
    """A JWKS endpoint that serves whatever body it is given."""

    body: bytes
    status: int = 200
    fetches: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.fetches += 1
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


GOOD_JWKS = json.dumps({"keys": [public_jwk(KEY_A, "a")]}).encode()


@pytest.fixture
def jwks() -> Iterator[tuple[Jwks, str]]:
    endpoint = Jwks(GOOD_JWKS)
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
        "    leeway: 0s\n"
        "    jwks_refetch_interval: 1h\n"
        "  on_behalf_of:\n"
        "    jwt:\n"
        f"      issuer: {ISSUER}\n"
        f"      audience: {AUDIENCE}\n"
        f"      jwks_url: {jwks[1]}\n"
        "      jwks_refetch_interval: 1h\n"
    )
    with ThreadedServer(RecordingUpstream()) as upstream:
        yield write_config(tmp_path, upstream.url, identity=identity)


async def test_every_odd_token_is_a_401(config: Path) -> None:
    async with in_process(config) as (client, _):
        for name, make in ODD_TOKENS.items():
            credential = make()
            for response in (
                await client.get("/v1/tools", headers=bearer(credential)),
                await client.post("/mcp", json={}, headers=bearer(credential)),
                await client.get(
                    "/v1/tools", headers={"Authorization": "Bearer x", "X-On-Behalf-Of": credential}
                ),
            ):
                assert response.status_code == 401, (name, response.status_code, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer"), name
        good = await client.get("/v1/tools", headers=bearer(signed({})))
        acting = await client.get("/v1/tools", headers={**bearer(READER_KEY), "X-On-Behalf-Of": signed({})})
    assert good.status_code == 200, "the table's tokens fail for their oddity, not for a broken setup"
    assert acting.status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[]", 200),
        (b"not json", 200),
        (b'{"keys": {}}', 200),
        (b'{"keys": [{"kty": "RSA", "kid": "a", "n": 7, "e": []}]}', 200),
        (b'{"keys": [{"kty": "nope", "kid": "a"}, "junk", 5]}', 200),
        (GOOD_JWKS, 500),
    ],
    ids=["array", "not-json", "keys-object", "bad-key-fields", "unusable-keys", "http-500"],
)
async def test_jwks_trouble_is_a_401_and_is_not_refetched_per_request(
    config: Path, jwks: tuple[Jwks, str], body: bytes, status: int
) -> None:
    endpoint, _ = jwks
    endpoint.body, endpoint.status = body, status
    async with in_process(config) as (client, _):
        for _ in range(3):
            response = await client.get("/v1/tools", headers=bearer(signed({})))
            assert response.status_code == 401
            assert "keys are unavailable" in response.json()["detail"]
    assert endpoint.fetches == 1, "an anonymous caller must not turn every request into a JWKS fetch"


async def test_one_bad_key_does_not_hide_the_good_ones(config: Path, jwks: tuple[Jwks, str]) -> None:
    endpoint, _ = jwks
    endpoint.body = json.dumps(
        {"keys": [{"kty": "RSA", "kid": "x", "n": 7}, public_jwk(KEY_A, "a")]}
    ).encode()
    async with in_process(config) as (client, _):
        assert (await client.get("/v1/tools", headers=bearer(signed({})))).status_code == 200
