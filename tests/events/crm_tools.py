"""A small CRM as Python tools for the events tests: reads are counted, so a test can tell a
cached answer from a fresh one."""

from __future__ import annotations

from typing import Any

from pasarela import tool

CUSTOMERS: dict[str, dict[str, Any]] = {
    "12345": {"customer_id": "12345", "region": "EU", "phone": "+34 600 000 001"},
    "67890": {"customer_id": "67890", "region": "US", "phone": "+1 555 0100"},
}
READS: list[str] = []


@tool(read_only=True)
def get_customer(customer_id: str) -> dict[str, Any]:
    """One customer."""
    READS.append(customer_id)
    return dict(CUSTOMERS[customer_id])
