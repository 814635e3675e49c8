"""Which schema changes break whom."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pasarela.contracts.compat import compare

BASE: dict[str, Any] = {
    "type": "object",
    "required": ["customer_id", "name"],
    "additionalProperties": True,
    "properties": {
        "customer_id": {"type": "string"},
        "name": {"type": "object", "properties": {"first": {"type": "string"}}},
        "segment": {"type": "string", "enum": ["retail", "private"]},
        "balance": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


def changed(**edits: Any) -> dict[str, Any]:
    new = copy.deepcopy(BASE)
    for path, value in edits.items():
        node = new
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return new


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (changed(required=["customer_id", "name", "email"]), [("/required", "backends")]),
        (changed(required=["customer_id"]), [("/required", "agents")]),
        (changed(properties__segment=None), [("/properties/segment", "agents")]),
        (changed(properties__email={"type": "string"}), [("/properties/email", None)]),
        (
            changed(properties__customer_id={"type": ["string", "null"]}),
            [("/properties/customer_id/type", "agents")],
        ),
        (changed(properties__balance={"type": "integer"}), [("/properties/balance/type", "backends")]),
        (
            changed(properties__segment={"type": "string", "enum": ["retail"]}),
            [("/properties/segment/enum", "backends")],
        ),
        (
            changed(properties__segment={"type": "string", "enum": ["retail", "private", "business"]}),
            [("/properties/segment/enum", "agents")],
        ),
        (changed(additionalProperties=False), [("/additionalProperties", "backends")]),
        (
            changed(properties__tags={"type": "array", "items": {"type": "integer"}}),
            [("/properties/tags/items/type", "backends")],
        ),
        (
            changed(
                properties__name={
                    "type": "object",
                    "properties": {"first": {"type": "string"}},
                    "minProperties": 1,
                }
            ),
            [("/properties/name/minProperties", "unknown")],
        ),
        (changed(description="Only the words changed"), []),
    ],
)
def test_each_change_is_classified(new: dict[str, Any], expected: list[tuple[str, str | None]]) -> None:
    assert [(c.path, c.breaks) for c in compare(BASE, new)] == expected


def test_identical_schemas_have_no_changes() -> None:
    assert compare(BASE, BASE) == []
