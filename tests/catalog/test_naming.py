from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pasarela.catalog.naming import make_unique, sanitize_argument_name, sanitize_tool_name
from pasarela.catalog.spec import TOOL_NAME_PATTERN


@given(st.text(max_size=300))
def test_any_text_becomes_a_valid_tool_name(raw: str) -> None:
    assert TOOL_NAME_PATTERN.match(sanitize_tool_name(raw))


def test_long_names_keep_a_hash_so_they_stay_distinct() -> None:
    a = sanitize_tool_name("x" * 70 + "a")
    b = sanitize_tool_name("x" * 70 + "b")
    assert len(a) == len(b) == 64 and a != b


def test_make_unique_respects_the_length_limit() -> None:
    taken = {"n" * 64}
    unique = make_unique("n" * 64, taken)
    assert unique == "n" * 62 + "_2" and unique in taken


def test_argument_names() -> None:
    assert sanitize_argument_name("StartTime<") == "StartTime_lt"
    assert sanitize_argument_name("X-Trace") == "X-Trace"
    assert sanitize_argument_name("a b[c]") == "a_b_c"
