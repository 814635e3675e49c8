"""`pasarela state`: the schema revision of the state store, and migrating it."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from pasarela.commands.common import ConfigOption, err, load, quiet_logs, with_state
from pasarela.config import DEFAULT_CONFIG
from pasarela.state import StateStore

state_app = typer.Typer(help="The durable state store.", no_args_is_help=True)


async def _schema(store: StateStore) -> StateStore:
    return store


@state_app.command("status")
def state_status(config: ConfigOption = Path(DEFAULT_CONFIG)) -> None:
    """The store's schema revision, and the migrations this version of Pasarela would apply."""
    loaded = load(config)
    quiet_logs(loaded)
    store = with_state(loaded, _schema, schema="read")
    assert store.schema is not None
    status = store.schema
    pending = ", ".join(status.pending) if status.pending else "none (up to date)"
    sys.stdout.write(
        f"revision: {status.current or 'none (empty store)'}\nhead: {status.head}\npending: {pending}\n"
    )


@state_app.command("migrate")
def state_migrate(config: ConfigOption = Path(DEFAULT_CONFIG)) -> None:
    """Apply pending schema migrations (back the store up first)."""
    loaded = load(config)
    quiet_logs(loaded)
    if err.is_terminal:
        with err.status("Migrating the state store…"):
            store = with_state(loaded, _schema, schema="upgrade")
    else:
        store = with_state(loaded, _schema, schema="upgrade")
    assert store.schema is not None
    if store.migrated:
        sys.stdout.write(f"applied: {', '.join(store.migrated)}; now at {store.schema.head}\n")
    else:
        sys.stdout.write(f"already at {store.schema.head}: nothing to apply\n")
