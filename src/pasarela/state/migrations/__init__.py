"""Alembic migrations of the state store (run by `pasarela state migrate`, never by hand)."""
