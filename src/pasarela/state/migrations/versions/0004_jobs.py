"""Durable jobs: tool calls stored to run later, by a worker, as the principal that started them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pasarela_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("door", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("client_key", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("timeout", sa.Float, nullable=False),
        sa.Column("retention", sa.Float, nullable=False),
        sa.Column("progress", sa.Float, nullable=True),
        sa.Column("message", sa.String(500), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("run_after", sa.Float, nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("cancel_requested", sa.Integer, nullable=False),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.Column("problem", sa.Text, nullable=True),
        sa.Column("expires_at", sa.Float, nullable=True),
    )
    op.create_index("pasarela_jobs_due", "pasarela_jobs", ["status", "run_after"])
    op.create_index("pasarela_jobs_owner", "pasarela_jobs", ["owner", "created_at"])
    op.create_index("pasarela_jobs_key", "pasarela_jobs", ["owner", "client_key"], unique=True)


def downgrade() -> None:
    op.drop_table("pasarela_jobs")
