"""Bodies are bounded while they are read, at both doors of a running gateway.

Raw sockets, because the interesting bodies are the ones polite clients never send: chunked
with no length at all, or far larger than they say. (The memory a 300 MB body costs is
measured by bench/body_limit_rss.py; here only the answers are checked.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.helpers.gateway import WRITER_KEY
from tests.helpers.processes import Served
from tests.helpers.raw_http import RawResponse, post_raw
from tests.helpers.running import running_gateway

LIMIT = 4096
AUTH = {
    "Authorization": f"Bearer {WRITER_KEY}",
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}
REST = "/v1/tools/greet:call"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with running_gateway(tmp_path_factory.mktemp("limits"), server=f"max_request_bytes: {LIMIT}") as served:
        yield served


def port_of(served: Served) -> int:
    return int(served.url.rsplit(":", 1)[1])


def assert_problem_names_the_limit(response: RawResponse) -> None:
    assert response.status == 413
    assert response.headers["content-type"] == "application/problem+json"
    problem = json.loads(response.body)
    assert problem["code"] == "request_too_large"
    assert problem["limit_bytes"] == LIMIT
    assert f"{LIMIT} bytes" in problem["detail"] and "server.max_request_bytes" in problem["detail"]


def assert_jsonrpc_names_the_limit(response: RawResponse) -> None:
    assert response.status == 413
    assert response.headers["content-type"] == "application/json"
    error = json.loads(response.body)["error"]
    assert error["code"] == -32600
    assert f"{LIMIT} bytes" in error["message"]
    assert error["data"]["code"] == "request_too_large"
    assert error["data"]["limit_bytes"] == LIMIT


def test_a_declared_length_over_the_limit_is_refused_before_reading(gateway: Served) -> None:
    size = LIMIT * 2
    response = post_raw(
        port_of(gateway), REST, AUTH, total=size, chunked=False, content_length=size, piece=b"x" * size
    )
    assert_problem_names_the_limit(response)


def test_a_chunked_body_with_no_length_is_cut_off_at_the_limit(gateway: Served) -> None:
    response = post_raw(port_of(gateway), REST, AUTH, total=8 << 20, chunked=True, piece=b"[" * 1000)
    assert_problem_names_the_limit(response)


def test_a_chunked_body_within_the_limit_is_served(gateway: Served) -> None:
    body = json.dumps({"arguments": {"name": "x" * (LIMIT - 100)}}).encode()
    response = post_raw(port_of(gateway), REST, AUTH, total=len(body), chunked=True, piece=body)
    assert response.status == 200, response.body
    assert json.loads(response.body)["result"]["text"].startswith("Hello, xxx")


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_mcp_bodies_over_the_limit_get_a_jsonrpc_error(gateway: Served, chunked: bool) -> None:
    size = 8 << 20
    response = post_raw(
        port_of(gateway),
        "/mcp",
        AUTH,
        total=size,
        chunked=chunked,
        content_length=None if chunked else size,
        piece=b"[" * 1000,
    )
    assert_jsonrpc_names_the_limit(response)


def test_a_body_that_lies_about_its_length_never_reaches_a_door(gateway: Served) -> None:
    # Content-Length and chunked together: the HTTP server refuses the request outright.
    response = post_raw(
        port_of(gateway), REST, AUTH, total=8 << 20, chunked=True, content_length=10, piece=b"[" * 1000
    )
    assert response.status == 400


def test_anonymous_callers_are_refused_before_their_body_is_read(gateway: Served) -> None:
    anonymous = {"Content-Type": "application/json"}
    response = post_raw(port_of(gateway), REST, anonymous, total=8 << 20, chunked=True, piece=b"[" * 1000)
    assert response.status == 401
    assert "Traceback" not in gateway.output()
