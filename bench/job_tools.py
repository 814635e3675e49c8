"""The trivial tool `bench/jobs.py` runs as jobs."""

from __future__ import annotations

from pasarela import tool


@tool(read_only=True)
def noop(n: int) -> int:
    """Answers at once."""
    return n
