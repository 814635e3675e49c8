"""The proto3 JSON mapping, round trip through a real server: every scalar, enums, nested and
repeated messages, maps, oneofs, optional fields, recursion and the well-known types; and input
schemas tight enough that wrong arguments are a 422 before the server is asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from pasarela.assembly import Runtime
from tests.connectors.grpc.helpers import ACCESS, NOWHERE, backend, call
from tests.connectors.grpc.lab_server import LabServer
from tests.helpers.gateway import gateway_for

pytestmark = pytest.mark.anyio

EVERYTHING: dict[str, Any] = {
    "d": 2.5,
    "f": -1.5,
    "i32": -2147483648,
    "i64": "-9223372036854775808",
    "u32": 4294967295,
    "u64": "18446744073709551615",
    "s32": -7,
    "s64": "-77",
    "fx32": 7,
    "fx64": "77",
    "sfx32": -8,
    "sfx64": "-88",
    "flag": True,
    "text": "héllo ✓",
    "blob": "AAEC/w==",
    "color": "RED",
    "nested": {"id": "n-1", "level": 2},
    "items": [{"id": "a", "level": 0}, {"id": "b", "level": 1}],
    "words": ["x", "y"],
    "counts": {"apples": "3", "pears": "-4"},
    "by_id": {"1": {"id": "one", "level": 0}, "-2": {"id": "minus two", "level": 0}},
    "detail": {"id": "chosen", "level": 9},
    "at": "2026-01-31T09:30:00.250Z",
    "took": "1.500s",
    "big": "9007199254740993",
    "maybe": "perhaps",
    "yes": False,
    "ratio": 0.25,
    "raw": "cmF3",
    "small": 42,
    "attributes": {"a": 1, "b": [True, None, "c"], "d": {"e": "f"}},
    "anything": [1, "two", {"three": 3}],
    "list": ["one", 2, None],
    "mask": "displayName,address.city",
    "note": "",
    "tree": {"label": "root", "children": [{"label": "leaf", "children": []}]},
    "nothing": {},
    "packed": {"@type": "type.googleapis.com/testing.v1.Nested", "id": "inside", "level": 1},
    "colors": ["GREEN", "RED"],
    "switches": {"true": "on", "false": "off"},
}


@pytest.fixture
async def lab_gateway(tmp_path: Path, lab: LabServer) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab), extra=ACCESS) as pair:
        yield pair


async def test_every_type_round_trips_through_the_server(
    lab_gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = lab_gateway
    echo = runtime.gateway.catalog.get("Lab_Echo")
    Draft202012Validator(dict(echo.input_schema)).validate(EVERYTHING)  # the input schema accepts it
    answer = await call(client, "Lab_Echo", EVERYTHING)
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    expected = {**EVERYTHING, "took": "1.500s", "note": ""}
    assert result == expected
    # What comes back matches the advertised output schema.
    assert echo.output_schema is not None
    Draft202012Validator(dict(echo.output_schema)).validate(result)


async def test_defaults_are_written_and_64_bit_numbers_are_accepted_as_numbers(
    lab_gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = lab_gateway
    # (The doors refuse numbers beyond 64 signed bits; the string form carries the whole range.)
    answer = await call(client, "Lab_Echo", {"i64": 123, "u64": 2**63 - 1})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["i64"] == "123" and result["u64"] == "9223372036854775807"
    # Fields holding their default value are written (an agent sees every field) …
    assert result["i32"] == 0 and result["flag"] is False and result["color"] == "COLOR_UNSPECIFIED"
    assert result["items"] == [] and result["counts"] == {}
    # … but unset messages, wrappers, oneofs and optional fields (they have presence) are not.
    assert "nested" not in result and "big" not in result and "detail" not in result and "note" not in result


async def test_a_request_that_is_not_an_object_travels_as_value(
    lab_gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = lab_gateway
    stamp = runtime.gateway.catalog.get("Stamp")
    assert stamp.input_schema["required"] == ["value"]
    answer = await call(client, "Stamp", {"value": "2026-05-01T00:00:00+02:00"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "2026-04-30T22:00:00Z"


HOSTILE = [
    ({"i32": 2147483648}, "/i32"),
    ({"u32": -1}, "/u32"),
    ({"i64": "12abc"}, "/i64"),
    ({"i64": 2**63}, "/i64"),
    ({"u64": "-1"}, "/u64"),
    ({"f": 1e39}, "/f"),
    ({"color": "PURPLE"}, "/color"),
    ({"color": 1}, "/color"),
    ({"flag": "yes"}, "/flag"),
    ({"text": 5}, "/text"),
    ({"blob": "not base64!"}, "/blob"),
    ({"nested": {"id": "x", "extra": 1}}, "/nested"),
    ({"nested": "n-1"}, "/nested"),
    ({"items": {"id": "x"}}, "/items"),
    ({"counts": {"a": "x"}}, "/counts/a"),
    ({"by_id": {"one": {"id": "x"}}}, "/by_id"),
    ({"switches": {"maybe": "x"}}, "/switches"),
    ({"name": "a", "number": 1}, "/"),  # two members of one oneof
    ({"at": "yesterday"}, "/at"),
    ({"took": "5 minutes"}, "/took"),
    ({"small": -1}, "/small"),
    ({"unknown_field": 1}, "/"),
    ({"nothing": {"x": 1}}, "/nothing"),
    ({"tree": {"children": [{"label": 5}]}}, "/tree/children/0/label"),
]


@pytest.mark.parametrize(("arguments", "path"), HOSTILE)
async def test_wrong_arguments_are_refused_before_the_server_is_asked(
    lab_gateway: tuple[httpx.AsyncClient, Runtime], lab: LabServer, arguments: dict[str, Any], path: str
) -> None:
    client, _ = lab_gateway
    before = lab.calls
    answer = await call(client, "Lab_Echo", arguments)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "invalid_arguments"
    assert any(error["path"].startswith(path) for error in problem["errors"]), problem["errors"]
    assert lab.calls == before


async def test_what_only_protobuf_can_check_is_a_422_too(
    lab_gateway: tuple[httpx.AsyncClient, Runtime], lab: LabServer
) -> None:
    client, _ = lab_gateway
    before = lab.calls
    # Matches the pattern, but is no date: json_format refuses it, before any call.
    answer = await call(client, "Lab_Echo", {"at": "2026-13-45T99:00:00Z"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["path"] == "/at"
    # A 64-bit string beyond range passes the pattern; protobuf refuses it.
    answer = await call(client, "Lab_Echo", {"items": [{"id": "x"}], "i64": "99999999999999999999"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["path"] == "/i64"
    assert lab.calls == before
