"""JMESPath functions composites may use beyond the standard ones.

    group_sum(items, 'currency', 'balance')  →  {"EUR": 1200.5, "USD": 40.0}

JMESPath has no grouping; totals per currency (or per anything) need it.
"""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath import functions


class _CompositeFunctions(functions.Functions):
    @functions.signature({"types": ["array"]}, {"types": ["string"]}, {"types": ["string"]})
    def _func_group_sum(self, items: list[Any], key: str, value: str) -> dict[str, float]:
        totals: dict[str, float] = {}
        for item in items:
            if not isinstance(item, dict):
                continue
            group, amount = item.get(key), item.get(value)
            if isinstance(group, str) and isinstance(amount, int | float) and not isinstance(amount, bool):
                totals[group] = round(totals.get(group, 0.0) + amount, 10)
        return totals


OPTIONS = jmespath.Options(custom_functions=_CompositeFunctions())
