"""The audit names the call a call was made for (a composite's step, a fallback) and by whom.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pasarela_audit") as table:
        table.add_column(sa.Column("parent_id", sa.String(200), nullable=True))
        table.add_column(sa.Column("via", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pasarela_audit") as table:
        table.drop_column("via")
        table.drop_column("parent_id")
