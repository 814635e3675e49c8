"""The fast YAML loader builds exactly what `yaml.load` with the safe loader builds, or steps aside."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from pasarela.connectors.openapi import yaml_fast
from pasarela.connectors.openapi.document import DocumentError, load_yaml, parse_document
from tests.conftest import TWILIO_SPECS


def same(a: Any, b: Any) -> bool:
    """Equal with types (1, 1.0 and True differ), NaN equal to NaN, order of keys included."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


SCALARS = """
booleans: [yes, no, on, off, true, False, Y, n]
integers: [0, -17, 0x1F, 0o17, 017, 1_000, 190:20:30, +5]
floats: [1.5, -0.0, 1e3, 6.8523015e+5, .inf, -.Inf, .nan, 1_000.5, 190:20:30.15]
nulls: [~, null, Null, ]
empty:
timestamps: [2001-12-14t21:59:43.10-05:00, 2002-12-14, 2001-12-14 21:59:43.10]
quoted: ['yes', "1", '', "null", "0x1F"]
explicit: [!!str 1, !!int "3", !!float "2", !!bool "true", !!null "", ! 12, !!binary aGVsbG8=]
strings: [type, object, string, "with: colon", 'single ''quoted''', plain text, <, '=']
"1": quoted key
2: int key
3.5: float key
true: bool key
~: null key
2002-12-14: date key
duplicate: first
duplicate: second
block: |
  line one
    indented
folded: >-
  folded
  text
unicode: "caf\\u00e9 \\U0001F600"
"""

ANCHORS = """
definitions:
  base: &base {type: object, properties: {id: {type: integer}}}
  again: *base
  scalar: &s 42
  list: &l [1, 2, *s]
uses: [*base, *l, *s]
"""


@pytest.mark.parametrize("text", [SCALARS, ANCHORS, "", "# only a comment\n", "just a string", "[1, 2]"])
def test_same_values_as_yaml_load(text: str) -> None:
    expected = yaml.load(text, Loader=yaml.SafeLoader)
    assert same(yaml_fast.load(text), expected)
    assert same(yaml_fast.load(text.encode()), expected)


def test_aliases_are_the_same_object_as_with_yaml_load() -> None:
    data = yaml_fast.load(ANCHORS)
    assert data["definitions"]["base"] is data["definitions"]["again"] is data["uses"][0]


def test_recursive_alias_points_back_to_its_container() -> None:
    data = yaml_fast.load("a: &a {self: *a, n: 1}\n")
    assert data["a"]["self"] is data["a"]


def test_a_real_description_as_yaml() -> None:
    document = yaml.load((TWILIO_SPECS / "twilio_messaging_v1.json").read_text(), Loader=yaml.CSafeLoader)
    text = yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False)
    assert same(yaml_fast.load(text), document)


@pytest.mark.parametrize(
    "text",
    [
        "base: &b {a: 1}\nchild:\n  <<: *b\n  c: 2\n",  # merge key
        "s: !!set {a, b}\n",
        "o: !!omap [{a: 1}]\n",
        "x: !custom 1\n",
        "? [a, b]\n: complex key\n",
        "? {a: 1}\n: complex key\n",
        "a: 1\n---\nb: 2\n",  # two documents
        "a: *nowhere\n",
        "a: &x 1\nb: &x 2\n",  # duplicate anchor
        "= : value key\n",
    ],
)
def test_unusual_yaml_steps_aside_and_yaml_load_decides(text: str) -> None:
    with pytest.raises(yaml_fast.Unsupported):
        yaml_fast.load(text)
    try:
        expected: Any = ("value", yaml.load(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        expected = ("error", type(exc))
    try:
        got: Any = ("value", load_yaml(text))
    except yaml.YAMLError as exc:
        got = ("error", type(exc))
    assert got[0] == expected[0]
    assert same(got[1], expected[1]) if got[0] == "value" else got[1] is expected[1]


def test_merge_keys_still_work_in_descriptions() -> None:
    document = parse_document(
        "openapi: 3.0.3\ninfo: &i {title: t, version: '1'}\npaths: {}\nx-info:\n  <<: *i\n  extra: 1\n",
        "m.yaml",
    )
    assert document.data["x-info"] == {"title": "t", "version": "1", "extra": 1}


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a: b: c\n", "\tkey: tab\n", "'unterminated\n"])
def test_broken_yaml_is_a_clear_document_error(text: str) -> None:
    with pytest.raises(DocumentError, match="neither valid JSON nor YAML"):
        parse_document(text, "broken.yaml")


def test_deep_nesting_is_a_clear_document_error() -> None:
    with pytest.raises(DocumentError, match="neither valid JSON nor YAML"):
        parse_document("a: " + "[" * 5000 + "]" * 5000, "deep.yaml")
