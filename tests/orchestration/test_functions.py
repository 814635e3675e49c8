"""The JMESPath functions composites add: group_sum."""

from __future__ import annotations

import jmespath
import pytest
from jmespath.exceptions import JMESPathTypeError

from pasarela.orchestration.functions import OPTIONS


def test_group_sum_totals_per_key_and_skips_what_it_cannot_add() -> None:
    items = [
        {"currency": "EUR", "balance": 100.25},
        {"currency": "USD", "balance": 40},
        {"currency": "EUR", "balance": 0.75},
        {"currency": "EUR", "balance": "n/a"},
        {"balance": 5},
        "not an object",
    ]
    found = jmespath.compile("group_sum(@, 'currency', 'balance')").search(items, OPTIONS)
    assert found == {"EUR": 101.0, "USD": 40.0}


def test_group_sum_needs_a_list() -> None:
    with pytest.raises(JMESPathTypeError):
        jmespath.compile("group_sum(@, 'currency', 'balance')").search({"a": 1}, OPTIONS)
