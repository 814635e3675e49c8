"""Webhooks: the outbox of deliveries, every attempt, and the state of endpoints (410 Gone).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pasarela_webhook_deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("round_attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float, nullable=True),
    )
    op.create_index("pasarela_webhook_due", "pasarela_webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index(
        "pasarela_webhook_message", "pasarela_webhook_deliveries", ["endpoint", "message_id"], unique=True
    )
    op.create_index("pasarela_webhook_created", "pasarela_webhook_deliveries", ["created_at"])
    op.create_table(
        "pasarela_webhook_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("delivery_id", sa.String(40), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=False),
    )
    op.create_index("pasarela_webhook_attempts_delivery", "pasarela_webhook_attempts", ["delivery_id", "id"])
    op.create_table(
        "pasarela_webhook_endpoints",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("disabled_at", sa.Float, nullable=True),
        sa.Column("disabled_reason", sa.String(500), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("pasarela_webhook_endpoints")
    op.drop_table("pasarela_webhook_attempts")
    op.drop_table("pasarela_webhook_deliveries")
