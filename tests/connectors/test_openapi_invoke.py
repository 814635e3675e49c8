"""What the OpenAPI connector puts on the wire, asserted at a real upstream."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from pasarela.catalog import ToolSpec
from pasarela.connectors.base import Invocation
from pasarela.connectors.openapi import OpenApiConnector, encode_path_segment
from pasarela.errors import InvalidArguments, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from tests.conftest import FIXTURES
from tests.connectors.openapi_helpers import connector
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream, Reply, Seen, echo

pytestmark = pytest.mark.anyio
ITEMS = FIXTURES / "openapi" / "items.yaml"


@pytest.fixture
def upstream() -> Iterator[tuple[RecordingUpstream, str]]:
    recorder = RecordingUpstream()
    with ThreadedServer(recorder) as server:
        yield recorder, server.url


async def call(url: str, tool: str, arguments: dict[str, Any], **settings: Any) -> Any:
    c: OpenApiConnector = connector(ITEMS, base_url=url, **settings)
    try:
        tools: dict[str, ToolSpec] = {t.name: t for t in await c.load()}
        return (await c.invoke(tools[tool], arguments)).data
    finally:
        await c.aclose()


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("../admin", "/items/..%2Fadmin"),
        ("..", "/items/%2E%2E"),
        (".", "/items/%2E"),
        ("a/b", "/items/a%2Fb"),
        ("%2F", "/items/%252F"),
        ("x?y=1#z", "/items/x%3Fy%3D1%23z"),
        ("ünï cödé", "/items/%C3%BCn%C3%AF%20c%C3%B6d%C3%A9"),
    ],
)
async def test_path_arguments_cannot_change_the_path(
    upstream: tuple[RecordingUpstream, str], value: str, wire: str
) -> None:
    recorder, url = upstream
    await call(url, "getItem", {"item_id": value})
    assert recorder.seen[-1].raw_path == wire
    assert recorder.seen[-1].query == []


def test_encode_path_segment_never_yields_a_separator() -> None:
    for value in ["/", "..", "a/../b", "\\", "%2e%2e", "\x00"]:
        assert "/" not in encode_path_segment(value)


async def test_query_arrays_names_and_dropped_authorization(upstream: tuple[RecordingUpstream, str]) -> None:
    recorder, url = upstream
    await call(url, "searchItems", {"tag": ["a", "b c"], "limit": 5, "created_lt": "2024", "X-Trace": "t-1"})
    seen = recorder.seen[-1]
    assert seen.query == [("tag", "a"), ("tag", "b c"), ("limit", "5"), ("created<", "2024")]
    assert seen.headers["x-trace"] == "t-1"
    assert "authorization" not in seen.headers


async def test_header_injection_is_refused_before_sending(upstream: tuple[RecordingUpstream, str]) -> None:
    recorder, url = upstream
    with pytest.raises(InvalidArguments):
        await call(url, "searchItems", {"X-Trace": "x\r\nAuthorization: Bearer stolen"})
    assert recorder.seen == []


async def test_json_body_fields_and_clashing_names(upstream: tuple[RecordingUpstream, str]) -> None:
    recorder, url = upstream
    await call(url, "updateItem", {"item_id": "42", "body_item_id": "body-42", "name": "n"})
    seen = recorder.seen[-1]
    assert (seen.method, seen.raw_path) == ("PUT", "/items/42")
    assert seen.json() == {"item_id": "body-42", "name": "n"}
    assert seen.headers["content-type"] == "application/json"


async def test_non_object_body_is_one_argument(upstream: tuple[RecordingUpstream, str]) -> None:
    recorder, url = upstream
    await call(url, "postList", {"body": [1, 2, 3]})
    assert recorder.seen[-1].json() == [1, 2, 3]


async def test_form_body(upstream: tuple[RecordingUpstream, str]) -> None:
    recorder, url = upstream
    await call(url, "submitForm", {"Body": "hi & bye", "To": ["+1", "+2"]})
    seen = recorder.seen[-1]
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.body == b"Body=hi+%26+bye&To=%2B1&To=%2B2"


@pytest.mark.parametrize(
    ("auth", "check"),
    [
        ({"bearer": "tok-123456"}, lambda s: s.headers["authorization"] == "Bearer tok-123456"),
        (
            {"basic": {"username": "svc", "password": "pw-123456"}},
            lambda s: s.headers["authorization"] == "Basic " + base64.b64encode(b"svc:pw-123456").decode(),
        ),
        (
            {"api_key": {"header": "X-Api-Key", "value": "k-123456"}},
            lambda s: s.headers["x-api-key"] == "k-123456",
        ),
        (
            {"api_key": {"query": "api_key", "value": "k-123456"}},
            lambda s: ("api_key", "k-123456") in s.query,
        ),
    ],
    ids=["bearer", "basic", "api_key_header", "api_key_query"],
)
async def test_backend_credentials_are_added(
    upstream: tuple[RecordingUpstream, str], auth: dict[str, Any], check: Any
) -> None:
    recorder, url = upstream
    await call(url, "getItem", {"item_id": "1"}, auth=auth)
    assert check(recorder.seen[-1])


async def test_oauth2_client_credentials_are_cached_and_refreshed_on_401() -> None:
    tokens = iter(["t1", "t2", "t3"])
    issued: list[str] = []

    def behaviour(seen: Seen) -> Reply:
        if seen.raw_path == "/token":
            token = next(tokens)
            issued.append(token)
            assert seen.headers["authorization"].startswith("Basic ")
            assert b"grant_type=client_credentials" in seen.body
            return Reply(200, {"access_token": token, "expires_in": 3600})
        if (
            seen.headers.get("authorization") == "Bearer t1"
            and len([s for s in recorder.seen if s.raw_path != "/token"]) > 2
        ):
            return Reply(401, {"error": "expired"})
        return Reply(200, {"auth": seen.headers.get("authorization")})

    recorder = RecordingUpstream(behaviour)
    with ThreadedServer(recorder) as server:
        auth = {
            "oauth2_client_credentials": {
                "token_url": f"{server.url}/token",
                "client_id": "c",
                "client_secret": "s-123456",
            }
        }
        c = connector(ITEMS, base_url=server.url, auth=auth)
        tools = {t.name: t for t in await c.load()}
        first = await c.invoke(tools["getItem"], {"item_id": "1"})
        second = await c.invoke(tools["getItem"], {"item_id": "2"})
        third = await c.invoke(tools["getItem"], {"item_id": "3"})  # t1 now refused: one refresh, one retry
        await c.aclose()
    assert first.data == second.data == {"auth": "Bearer t1"}
    assert third.data == {"auth": "Bearer t2"}
    assert issued == ["t1", "t2"]


async def test_upstream_error_status_becomes_upstream_error() -> None:
    recorder = RecordingUpstream(
        lambda s: Reply(500, {"error": "db down", "echo": s.headers.get("authorization")})
    )
    with ThreadedServer(recorder) as server, pytest.raises(UpstreamError) as caught:
        await call(server.url, "getItem", {"item_id": "1"}, auth={"bearer": "secret-token-xyz"})
    error = caught.value
    assert (error.status, error.upstream_status) == (502, 500)
    problem = error.to_problem()
    assert problem["upstream_body"]["error"] == "db down"


async def test_timeout_becomes_upstream_timeout() -> None:
    recorder = RecordingUpstream(lambda s: Reply(200, {}, delay=2))
    with ThreadedServer(recorder) as server, pytest.raises(UpstreamTimeout) as caught:
        await call(server.url, "slow", {}, timeout=0.2)
    assert caught.value.status == 504


async def test_unreachable_backend_becomes_upstream_unavailable() -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        await call(f"http://127.0.0.1:{free_port()}", "slow", {})
    assert caught.value.status == 503


async def test_echo_default_is_json(upstream: tuple[RecordingUpstream, str]) -> None:
    _, url = upstream
    assert (await call(url, "slow", {}))["path"] == "/slow"
    assert echo is not None


async def test_multipart_fields(upstream: tuple[RecordingUpstream, str]) -> None:
    recorder, url = upstream
    await call(url, "uploadFields", {"note": "hello", "tags": ["a", "b"]})
    seen = recorder.seen[-1]
    assert seen.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert seen.body.count(b'name="tags"') == 2
    assert b"hello" in seen.body


async def test_cookies_from_a_backend_are_never_replayed() -> None:
    recorder = RecordingUpstream(
        lambda s: Reply(200, {"ok": True}, headers={"set-cookie": "session=alice; Path=/"})
    )
    with ThreadedServer(recorder) as server:
        c = connector(ITEMS, base_url=server.url)
        tools = {t.name: t for t in await c.load()}
        await c.invoke(tools["getItem"], {"item_id": "1"})
        await c.invoke(tools["getItem"], {"item_id": "2"})
        await c.aclose()
    assert "cookie" not in recorder.seen[1].headers


async def test_an_invocations_headers_ride_along_under_the_backends_own_credential(
    upstream: tuple[RecordingUpstream, str],
) -> None:
    recorder, url = upstream
    c = connector(ITEMS, base_url=url, auth={"bearer": "backend-token-000001"})
    try:
        tools = {t.name: t for t in await c.load()}
        headers = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "Authorization": "Bearer forged"}
        await c.invoke(tools["getItem"], {"item_id": "1"}, Invocation(headers=headers))
    finally:
        await c.aclose()
    seen = recorder.seen[-1].headers
    assert seen["traceparent"] == headers["traceparent"]
    assert seen["authorization"] == "Bearer backend-token-000001", "the backend's credential wins"
