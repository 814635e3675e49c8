"""Per-call notes that stages leave for later stages, without widening Call or Outcome.

The audit stage opens a notebook for the call; the authorization stage writes its decision
into it. Nothing written here is ever shown to the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_notebook: ContextVar[dict[str, Any] | None] = ContextVar("pasarela_call_notes", default=None)


@contextmanager
def notebook() -> Iterator[dict[str, Any]]:
    notes: dict[str, Any] = {}
    token = _notebook.set(notes)
    try:
        yield notes
    finally:
        _notebook.reset(token)


def note(key: str, value: Any) -> None:
    """Record `value` for this call if a notebook is open (a no-op otherwise)."""
    notes = _notebook.get()
    if notes is not None:
        notes[key] = value
