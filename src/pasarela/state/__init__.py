"""Durable state: SQLite by default, PostgreSQL for replicas."""

from pasarela.state.store import STATE_BACKENDS, StateStore, open_state

__all__ = ["STATE_BACKENDS", "StateStore", "open_state"]
