"""Alembic's entry point: always handed an open connection by pasarela.state.migrate."""

from __future__ import annotations

from alembic import context

from pasarela.state.migrate import VERSION_TABLE, ours
from pasarela.state.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_name=ours,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
