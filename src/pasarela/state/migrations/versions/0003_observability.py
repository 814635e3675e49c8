"""Observability: the audit records a call's trace, backend, cache answer and MCP session;
costs are recorded per call, with a running spend per agent for budgets.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pasarela_audit") as table:
        table.add_column(sa.Column("trace_id", sa.String(32), nullable=True))
        table.add_column(sa.Column("backend", sa.String(64), nullable=True))
        table.add_column(sa.Column("cache", sa.String(8), nullable=True))
        table.add_column(sa.Column("session", sa.String(32), nullable=True))
    op.create_table(
        "pasarela_costs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("units", sa.Float, nullable=True),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
    )
    op.create_index("pasarela_costs_day", "pasarela_costs", ["day"])
    op.create_index("pasarela_costs_principal", "pasarela_costs", ["principal", "day"])
    op.create_table(
        "pasarela_cost_spend",
        sa.Column("principal", sa.String(200), primary_key=True),
        sa.Column("period", sa.String(10), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("spent", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pasarela_cost_spend")
    op.drop_index("pasarela_costs_principal", "pasarela_costs")
    op.drop_index("pasarela_costs_day", "pasarela_costs")
    op.drop_table("pasarela_costs")
    with op.batch_alter_table("pasarela_audit") as table:
        table.drop_column("session")
        table.drop_column("cache")
        table.drop_column("backend")
        table.drop_column("trace_id")
