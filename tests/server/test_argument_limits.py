"""What both doors refuse of arguments before the pipeline sees them, on a running gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.gateway import WRITER_KEY, bearer
from tests.helpers.processes import Served
from tests.helpers.raw_mcp import RawMcp, message_of
from tests.helpers.running import running_gateway

INT64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with running_gateway(tmp_path_factory.mktemp("arguments")) as served:
        yield served


@pytest.fixture(scope="module")
def http(gateway: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, headers=bearer(WRITER_KEY), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def mcp(http: httpx.Client) -> RawMcp:
    return RawMcp(http, WRITER_KEY)


def rest(http: httpx.Client, tool: str, arguments_json: bytes, **headers: bytes) -> httpx.Response:
    body = b'{"arguments":' + arguments_json + b"}"
    raw = [(name.encode(), value) for name, value in headers.items()]
    return http.post(f"/v1/tools/{tool}:call", content=body, headers=raw)


def mcp_problem(response: httpx.Response) -> dict[str, Any]:
    """The problem document of an MCP tool result with isError."""
    assert response.status_code == 200, response.text
    result = message_of(response)["result"]
    assert result["isError"] is True, result
    problem: dict[str, Any] = json.loads(result["content"][0]["text"])
    return problem


def nested(depth: int) -> bytes:
    """`{"name": ...}` whose value nests lists so the arguments are `depth` levels deep."""
    return b'{"name":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_nesting_up_to_the_limit_passes_the_door(http: httpx.Client, mcp: RawMcp) -> None:
    # Refused later by validation (a name is a string), not by the door.
    problem = rest(http, "greet", nested(64)).json()
    assert problem["status"] == 422
    assert "nested" not in json.dumps(problem)
    assert "nested" not in json.dumps(mcp_problem(mcp.call_raw("greet", nested(64))))


def test_nesting_beyond_the_limit_is_refused_naming_it(http: httpx.Client, mcp: RawMcp) -> None:
    for problem in (rest(http, "greet", nested(65)).json(), mcp_problem(mcp.call_raw("greet", nested(65)))):
        assert problem["status"] == 422
        assert problem["code"] == "invalid_arguments"
        [error] = problem["errors"]
        assert error["path"].startswith("/name/0/0")
        assert "64 levels" in error["message"] and "server.max_nesting_depth" in error["message"]


def test_a_body_too_deep_even_to_parse_is_a_clean_400(http: httpx.Client, mcp: RawMcp) -> None:
    assert rest(http, "greet", nested(5000)).status_code == 400
    assert mcp.call_raw("greet", nested(5000)).status_code == 400


@pytest.mark.parametrize(
    "number", [b"1180591620717411303424", b"-9223372036854775809", b"18446744073709551615", b"9" * 5000]
)
def test_integers_beyond_64_bits_are_refused_naming_the_argument(
    http: httpx.Client, mcp: RawMcp, number: bytes
) -> None:
    arguments = b'{"a":' + number + b',"b":1}'
    from_rest = rest(http, "add_numbers", arguments)
    if len(number) > 4300:  # more digits than Python converts: not even parsed
        assert from_rest.status_code == 400
    else:
        assert from_rest.status_code == 422
        assert from_rest.json()["errors"] == [
            {"path": "/a", "message": "integer out of range: must fit in 64 bits"}
        ]
    answer = mcp.call_raw("add_numbers", arguments)
    if len(number) > 4300:
        assert answer.status_code == 400
        assert message_of(answer)["error"]["code"] == -32700  # the SDK's parse error
    else:
        [error] = mcp_problem(answer)["errors"]
        assert error == {"path": "/a", "message": "integer out of range: must fit in 64 bits"}


def test_64_bit_integers_pass_through_exactly(http: httpx.Client, mcp: RawMcp) -> None:
    result = rest(http, "add_numbers", f'{{"a":{INT64_MAX},"b":0}}'.encode())
    assert result.status_code == 200
    assert json.loads(result.text)["result"] == INT64_MAX
    # A sum beyond 64 bits is the tool's own answer: it is returned, exactly, not a 500.
    overflow = rest(http, "add_numbers", f'{{"a":{-(2**63)},"b":{-(2**63)}}}'.encode())
    assert overflow.status_code == 200
    assert json.loads(overflow.text)["result"] == -(2**64)
    answer = message_of(mcp.call_raw("add_numbers", f'{{"a":{INT64_MAX},"b":0}}'.encode()))["result"]
    assert not answer.get("isError")
    assert json.loads(answer["content"][0]["text"]) == INT64_MAX


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_numbers_that_are_not_finite_are_refused(http: httpx.Client, mcp: RawMcp, number: bytes) -> None:
    arguments = b'{"a":' + number + b"}"
    assert rest(http, "add_numbers", arguments).status_code == 400  # not JSON as orjson reads it
    [error] = mcp_problem(mcp.call_raw("add_numbers", arguments))["errors"]
    assert error["path"] == "/a" and "finite" in error["message"]


def test_header_arguments_with_control_characters_are_refused_by_validation(http: httpx.Client) -> None:
    for value in ["a\x0bb", "a\x0cb", "a\x7fb", "a\x00b"]:
        response = rest(http, "searchItems", json.dumps({"X-Trace": value}).encode())
        assert response.status_code == 422, response.text
        assert [e["path"] for e in response.json()["errors"]] == ["/X-Trace"]
    assert rest(http, "searchItems", json.dumps({"X-Trace": "a\tb"}).encode()).status_code == 200


@pytest.mark.parametrize("key", [b"k" * 256, "é".encode(), b""], ids=["long", "non-ascii", "empty"])
def test_odd_idempotency_keys_are_refused_at_the_rest_door(http: httpx.Client, key: bytes) -> None:
    response = rest(http, "greet", b'{"name":"a"}', **{"Idempotency-Key": key})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


@pytest.mark.parametrize(
    "meta", [b'{"idempotency_key":{"a":1}}', b'{"idempotency_key":"\\u0000"}', b'{"idempotency_key":1e400}']
)
def test_odd_idempotency_keys_are_refused_at_the_mcp_door(mcp: RawMcp, meta: bytes) -> None:
    problem = mcp_problem(mcp.call_raw("greet", b'{"name":"a"}', meta=meta))
    assert problem["status"] == 400
    assert "_meta.idempotency_key" in problem["detail"]


def test_nothing_above_left_a_traceback(gateway: Served, http: httpx.Client) -> None:
    assert http.get("/readyz").status_code == 200
    assert "Traceback" not in gateway.output()
