"""Accepted versions of registry schemas, kept in the durable state store.

A published `name@version` should never change in place; `pasarela schemas check` compares
each schema with its accepted text and names the tools a change would break.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select

from pasarela import jsonsafe
from pasarela.config.model import Settings
from pasarela.contracts.compat import Change, compare
from pasarela.contracts.registry import SchemaRegistry
from pasarela.state import StateStore
from pasarela.state.tables import schema_pins


def canonical(schema: Mapping[str, Any]) -> bytes:
    return jsonsafe.dumps(schema, sort_keys=True)


@dataclass(frozen=True, slots=True)
class SchemaReport:
    name: str
    status: str  # new | unchanged | changed | removed
    changes: list[Change] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)  # tools that declare it as their output

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.breaks is not None]


class SchemaPins:
    def __init__(self, state: StateStore) -> None:
        self._state = state

    async def pinned(self) -> dict[str, dict[str, Any]]:
        async with self._state.engine.connect() as db:
            rows = (await db.execute(select(schema_pins.c.name, schema_pins.c.schema))).all()
        return {row.name: orjson.loads(row.schema) for row in rows}

    async def accept(self, registry: SchemaRegistry) -> None:
        rows = []
        for name in registry.names():
            text = canonical(registry.get(name).schema)
            digest = hashlib.sha256(text).hexdigest()
            rows.append({"name": name, "digest": digest, "schema": text.decode(), "pinned_at": time.time()})
        if not rows:
            return
        statement = self._state.insert(schema_pins)
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "digest": statement.excluded.digest,
                "schema": statement.excluded.schema,
                "pinned_at": statement.excluded.pinned_at,
            },
        )
        async with self._state.engine.begin() as db:
            await db.execute(statement, rows)


def check_schemas(
    settings: Settings, registry: SchemaRegistry, pinned: Mapping[str, Mapping[str, Any]]
) -> list[SchemaReport]:
    users: dict[str, list[str]] = {}
    for tool, options in settings.tools.items():
        if options.output is not None:
            users.setdefault(options.output, []).append(tool)
    reports = []
    for name in registry.names():
        tools = sorted(users.get(name, []))
        current = registry.get(name).schema
        if name not in pinned:
            reports.append(SchemaReport(name, "new", tools=tools))
        elif canonical(pinned[name]) == canonical(current):
            reports.append(SchemaReport(name, "unchanged", tools=tools))
        else:
            reports.append(SchemaReport(name, "changed", compare(pinned[name], current), tools))
    reports.extend(SchemaReport(name, "removed") for name in sorted(set(pinned) - set(registry.names())))
    return reports
