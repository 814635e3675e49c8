"""Property: whatever JSON (or not-JSON) a caller throws at the doors, the answer is never a
5xx and the gateway never logs a traceback.

A real `pasarela serve` process takes arbitrary bodies at `/v1/tools/{name}:call` and `/mcp`:
deep, wide, huge and odd numbers (2**70, 1e400, NaN), odd unicode (lone surrogates as
\\u escapes, NUL), duplicate keys, bodies that are not objects or not JSON at all, and wrong
content types. The number of examples is a settings profile: `hostile-doors` (250) by
default, more with PASARELA_FUZZ_EXAMPLES=5000 for a long run by hand.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.helpers.gateway import WRITER_KEY, bearer
from tests.helpers.processes import Served
from tests.helpers.raw_mcp import RawMcp
from tests.helpers.running import running_gateway

pytestmark = pytest.mark.e2e

settings.register_profile(
    "hostile-doors",
    max_examples=int(os.environ.get("PASARELA_FUZZ_EXAMPLES", "250")),
    deadline=None,  # a request to a real server: its time says nothing about the property
    database=None,  # nothing written into the checkout (CI runs from a fresh clone anyway)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
PROFILE = settings.get_profile("hostile-doors")

# Tools the writer may call whose backends answer sanely (`explode` is a deliberate 500 and
# `sleepy` sleeps as long as it is told: neither is about the doors).
TOOLS = [
    "greet",
    "add_numbers",
    "classify",
    "getItem",
    "searchItems",
    "createItem",
    "updateItem",
    "deleteItem",
]


@dataclass(frozen=True)
class Raw:
    """JSON text written as is (numbers no encoder would write)."""

    text: str


@dataclass(frozen=True)
class Pairs:
    """An object that may repeat its keys."""

    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Deep:
    """`leaf` inside `depth` arrays or objects."""

    depth: int
    kind: str
    leaf: Any


def encode(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Deep):
        opening, closing = ("[", "]") if value.kind == "list" else ('{"k":', "}")
        return opening * value.depth + encode(value.leaf) + closing * value.depth
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items) + "}"
    if isinstance(value, dict):
        return encode(Pairs(tuple(value.items())))
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    # ensure_ascii: lone surrogates and NUL travel as \\u escapes, as a hostile client writes them.
    return json.dumps(value)


odd_text = st.text(st.characters(exclude_categories=()), max_size=30) | st.sampled_from(
    ["\ud800", "\udfff", "a\x00b", "\x0b\x0c\x7f", "\u2028", "é" * 3, "a\r\nX-Injected: 1"]
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**62)),
    st.floats(),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30]),
    st.sampled_from(
        ["1e400", "-1e400", "1e-400", "-0", "1E+2", "123456789012345678901234567890.5", "9" * 5000]
    ).map(Raw),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, odd_text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(odd_text, inner, max_size=5),
        st.lists(st.tuples(st.sampled_from(["a", "name", "a"]), inner), max_size=4).map(
            lambda items: Pairs(tuple(items))
        ),
    ),
    max_leaves=20,
)
deep = st.builds(Deep, st.integers(1, 400), st.sampled_from(["list", "object"]), scalars)
wide = st.integers(1, 20_000).map(lambda n: Raw("[" + ",".join(["1"] * n) + "]"))
anything = st.one_of(values, deep, wide)


def json_body(value: Any) -> bytes:
    return encode(value).encode("utf-8", "surrogatepass")


# Arguments that pass validation often, so odd values reach the tools, the wire and the
# answers (not only the validation stage).
well_typed_calls = st.one_of(
    st.tuples(st.just("greet"), st.fixed_dictionaries({"name": odd_text}, optional={"shout": st.booleans()})),
    st.tuples(st.just("add_numbers"), st.fixed_dictionaries({"a": numbers}, optional={"b": numbers})),
    st.tuples(st.sampled_from(["getItem", "deleteItem"]), st.fixed_dictionaries({"item_id": odd_text})),
    st.tuples(
        st.just("searchItems"),
        st.fixed_dictionaries(
            {},
            optional={
                "X-Trace": odd_text,
                "tag": st.lists(odd_text, max_size=3),
                "limit": numbers,
                "created_lt": odd_text,
            },
        ),
    ),
    st.tuples(
        st.just("createItem"),
        st.fixed_dictionaries({"name": odd_text}, optional={"tags": st.lists(odd_text, max_size=3)}),
    ),
)
well_typed = well_typed_calls.map(lambda call: call[1])
any_keys = st.sampled_from(["name", "a", "b", "level", "item_id", "tag", "limit", "X-Trace"])
arguments_for_tools = st.one_of(
    well_typed, well_typed, well_typed, st.dictionaries(any_keys, anything, max_size=4), anything
)


def rest_body(arguments: Any) -> bytes:
    return json_body({"arguments": Raw(encode(arguments))})


rest_bodies = st.one_of(
    st.builds(rest_body, arguments_for_tools), st.builds(json_body, anything), st.binary(max_size=300)
)
content_types = st.sampled_from(
    ["application/json"] * 6
    + ["application/json; charset=latin-1", "text/plain", "application/x-www-form-urlencoded", ""]
)
tool_names = (
    st.sampled_from(TOOLS)
    | st.sampled_from(TOOLS)
    | st.sampled_from(TOOLS)
    | st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
)


def jsonrpc(method: Any, params: Any, ident: Any) -> bytes:
    return json_body(Pairs((("jsonrpc", "2.0"), ("id", ident), ("method", method), ("params", params))))


def tool_call(name: Any, arguments: Any, meta: Any, ident: Any) -> bytes:
    params = Pairs((("name", name), ("arguments", Raw(encode(arguments))), ("_meta", meta)))
    return jsonrpc("tools/call", params, ident)


metas = st.none() | st.dictionaries(
    st.sampled_from(["idempotency_key", "progressToken"]), scalars, max_size=2
)
ids = st.integers(0, 10**6) | st.none() | st.integers() | odd_text | st.floats()
tool_calls = st.one_of(
    well_typed_calls.flatmap(
        lambda call: st.builds(tool_call, st.just(call[0]), st.just(call[1]), metas, ids)
    ),
    st.builds(tool_call, st.sampled_from(TOOLS) | odd_text, arguments_for_tools, metas, ids),
)
mcp_bodies = st.one_of(
    tool_calls,
    tool_calls,
    tool_calls,
    st.builds(
        jsonrpc,
        st.sampled_from(["tools/list", "ping", "resources/list", "nope"]) | odd_text,
        anything,
        scalars,
    ),
    st.lists(tool_calls, min_size=1, max_size=3).map(lambda items: b"[" + b",".join(items) + b"]"),
    st.builds(json_body, anything),
    st.binary(max_size=300),
)


@dataclass
class Doors:
    served: Served
    http: httpx.Client
    mcp: RawMcp
    seen: int = 0  # how much of the log earlier examples already checked

    def new_log(self) -> str:
        text = self.served.output()
        fresh, self.seen = text[self.seen :], len(text)
        return fresh


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doors]:
    with (
        running_gateway(tmp_path_factory.mktemp("hostile")) as served,
        httpx.Client(base_url=served.url, headers=bearer(WRITER_KEY), timeout=60) as http,
    ):
        yield Doors(served, http, RawMcp(http, WRITER_KEY))


def assert_clean(doors: Doors, response: httpx.Response, body: bytes) -> None:
    event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics shows what was reached
    assert response.status_code < 500, (response.status_code, body[:300], response.text[:500])
    log = doors.new_log()
    assert "Traceback" not in log, log[-3000:]


# (tool, body): well-typed calls half the time, anything to any name otherwise.
rest_calls = well_typed_calls.map(lambda call: (call[0], rest_body(call[1]))) | st.tuples(
    tool_names, rest_bodies
)


@PROFILE
@given(call=rest_calls, content_type=content_types)
def test_the_rest_door_never_answers_5xx(doors: Doors, call: tuple[str, bytes], content_type: str) -> None:
    name, body = call
    headers = {"Content-Type": content_type} if content_type else {}
    response = doors.http.post(f"/v1/tools/{quote(name, safe='')}:call", content=body, headers=headers)
    assert_clean(doors, response, body)


@PROFILE
@given(body=mcp_bodies, content_type=content_types)
def test_the_mcp_door_never_answers_5xx(doors: Doors, body: bytes, content_type: str) -> None:
    response = doors.mcp.post(body, **({"Content-Type": content_type} if content_type else {}))
    assert_clean(doors, response, body)
