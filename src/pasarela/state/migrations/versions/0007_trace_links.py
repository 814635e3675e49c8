"""Trace links: the audit records the agent's conversation (a hash); a job keeps the trace
context of the call that started it, so each run's span links back to it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pasarela_audit") as table:
        table.add_column(sa.Column("conversation", sa.String(32), nullable=True))
    with op.batch_alter_table("pasarela_jobs") as table:
        table.add_column(sa.Column("traceparent", sa.String(55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pasarela_jobs") as table:
        table.drop_column("traceparent")
    with op.batch_alter_table("pasarela_audit") as table:
        table.drop_column("conversation")
