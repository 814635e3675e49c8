"""The durable state's tables (SQLAlchemy Core; created on first use)."""

from __future__ import annotations

from sqlalchemy import Column, Float, MetaData, String, Table, Text

metadata = MetaData()

tool_pins = Table(
    "pasarela_tool_pins",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("backend", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("spec", Text, nullable=False),  # canonical JSON of what was approved
    Column("pinned_at", Float, nullable=False),
    Column("pending_digest", String(64), nullable=True),  # a changed definition awaiting approval
    Column("pending_spec", Text, nullable=True),
    Column("changed_at", Float, nullable=True),
)
