"""Arguments that become HTTP headers must be valid field values, refused by schema first."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pasarela.connectors.openapi.operations import FIELD_VALUE, field_value_schema
from pasarela.errors import InvalidArguments
from tests.connectors.test_openapi_invoke import call
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio
# Every character RFC 9110 forbids in a field value: controls but tab, and DEL.
FORBIDDEN = [chr(c) for c in [*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F]]


@pytest.fixture
def upstream() -> Iterator[tuple[RecordingUpstream, str]]:
    recorder = RecordingUpstream()
    with ThreadedServer(recorder) as server:
        yield recorder, server.url


def test_the_pattern_refuses_exactly_what_http_forbids() -> None:
    validator = Draft202012Validator({"type": "string", "pattern": FIELD_VALUE})
    for char in FORBIDDEN:
        assert not validator.is_valid(f"a{char}b"), repr(char)
    for fine in ["", "a\tb", "plain text", "ünïcödé", "~!@#$%^&*()"]:
        assert validator.is_valid(fine), repr(fine)


def test_a_spec_pattern_is_kept_and_the_field_value_rule_added() -> None:
    schema = field_value_schema({"type": "string", "pattern": "^[a-z\\x0b]+$"})
    assert schema["pattern"] == "^[a-z\\x0b]+$"
    validator = Draft202012Validator(schema)
    assert validator.is_valid("abc")
    assert not validator.is_valid("a\x0bb"), "the spec's own pattern cannot let a control character through"
    assert field_value_schema({"type": "integer"})["pattern"] == FIELD_VALUE  # ignored for non-strings


@pytest.mark.parametrize("char", FORBIDDEN, ids=lambda c: f"U+{ord(c):04X}")
async def test_the_connector_never_hands_aiohttp_a_forbidden_value(
    upstream: tuple[RecordingUpstream, str], char: str
) -> None:
    """Defence in depth: even past validation, a clean InvalidArguments, nothing sent."""
    recorder, url = upstream
    with pytest.raises(InvalidArguments) as raised:
        await call(url, "searchItems", {"X-Trace": f"a{char}b"})
    assert raised.value.problems[0].path == "/X-Trace"
    assert recorder.seen == []


async def test_tabs_and_unicode_go_through(upstream: tuple[RecordingUpstream, str]) -> None:
    recorder, url = upstream
    arguments: dict[str, Any] = {"X-Trace": "a\tb"}
    await call(url, "searchItems", arguments)
    assert re.fullmatch(r"a\s+b", recorder.seen[-1].headers["x-trace"])
