"""Read-only tools whose results carry a region, for the result-policy tests
(`python: tests.policy.result_tools`)."""

from __future__ import annotations

from typing import Any

from pasarela import tool

CUSTOMERS: dict[str, dict[str, Any]] = {
    "1": {"customer_id": "1", "name": "Ana", "region": "EU"},
    "2": {"customer_id": "2", "name": "Bob", "region": "US"},
    "3": {"customer_id": "3", "name": "Chen", "region": "APAC"},
    "4": {"customer_id": "4", "name": "Dora", "region": "EU"},
    "5": {"customer_id": "5", "name": "Nobody knows", "region": None},
}
CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@tool(read_only=True)
def get_customer(customer_id: str) -> dict[str, Any]:
    """One customer."""
    _count("get_customer")
    return dict(CUSTOMERS[customer_id])


@tool(read_only=True)
def search_customers(name: str = "") -> dict[str, Any]:
    """Customers whose name holds `name`, with how many matched."""
    _count("search_customers")
    found = [dict(c) for c in CUSTOMERS.values() if name.lower() in c["name"].lower()]
    return {"page": {"customers": found}, "total": len(found)}


@tool(read_only=True)
def list_customers() -> list[dict[str, Any]]:
    """Every customer, as a bare list."""
    _count("list_customers")
    return [dict(c) for c in CUSTOMERS.values()]


@tool(read_only=True)
def odd_result(kind: str) -> Any:
    """Results that are hard to show Cedar."""
    deep: Any = "EU"
    for _ in range(40):
        deep = {"inner": deep}
    return {
        "huge": {"region": "EU", "balance": 2**70},
        "float": {"region": "EU", "balance": 12.5},
        "nan": {"region": "EU", "balance": float("nan")},
        "deep": {"region": deep},
        "deep_unread": {"region": "EU", "nested": deep},  # no policy reads `nested`: not sent
        "entity": {"region": {"__entity": {"type": "Agent", "id": "reader"}}},
        "wide": {"region": "EU", "balance": list(range(20_000))},
        "scalar": 42,
        "no_list": {"page": None},
    }[kind]


@tool
def move_customer(customer_id: str, region: str) -> dict[str, Any]:
    """Not read-only: its results are not checked."""
    return {**CUSTOMERS[customer_id], "region": region}
