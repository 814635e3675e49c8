"""Events: the log (CloudEvents, stored once per source and id), its head, and readers' positions.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pasarela_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(500), nullable=True),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("dataschema", sa.String(100), nullable=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("ingested_at", sa.Float, nullable=False),
    )
    op.create_index("pasarela_events_identity", "pasarela_events", ["source", "event_id"], unique=True)
    op.create_index("pasarela_events_ingested", "pasarela_events", ["ingested_at"])
    op.create_table(
        "pasarela_event_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "pasarela_event_positions",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("position", sa.Text, nullable=True),
        sa.Column("owner", sa.String(100), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pasarela_event_positions")
    op.drop_table("pasarela_event_head")
    op.drop_table("pasarela_events")
