"""jsonsafe: standard JSON for every value the gateway may meet, exact where orjson refuses."""

from __future__ import annotations

import json

from pasarela import jsonsafe


def nested(levels: int) -> dict[str, object]:
    root: dict[str, object] = {}
    node = root
    for _ in range(levels):
        child: dict[str, object] = {}
        node["k"] = child
        node = child
    node["v"] = 2**70
    return root


def test_integers_beyond_64_bits_stay_exact_integers() -> None:
    assert json.loads(jsonsafe.dumps({"n": -(2**70), "m": [2**64]})) == {"n": -(2**70), "m": [2**64]}


def test_non_finite_floats_and_lone_surrogates_still_give_standard_json() -> None:
    text = jsonsafe.dumps({"nan": float("nan"), "inf": float("inf"), "s": "a\ud800b", "big": 2**70})
    assert json.loads(text) == {"nan": None, "inf": None, "s": "a\ud800b", "big": 2**70}


def test_any_depth_is_encoded_without_an_error() -> None:
    for levels in (300, 5_000):  # past orjson's 255 levels, and far past the interpreter's limit
        text = jsonsafe.dumps(nested(levels)).decode()
        assert "nested too deep" in text
        json.loads(text)


def test_sorted_and_indented_forms_match_orjson_when_orjson_can() -> None:
    value = {"b": 1, "a": [1, {"d": 2, "c": 3}]}
    assert jsonsafe.dumps(value, sort_keys=True) == b'{"a":[1,{"c":3,"d":2}],"b":1}'
    assert json.loads(jsonsafe.dumps(value, indent=True)) == value
