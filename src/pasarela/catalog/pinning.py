"""Tool pinning against rug pulls.

The first time a tool is seen, what its backend serves (description, schemas, annotations, and
the provenance a connector records: an A2A agent's URL and security schemes)
is hashed and pinned in the durable state. If the backend later serves something different,
the tool is quarantined — not listed, not callable — until an operator approves the change
(`pasarela tools approve NAME`; `pasarela tools diff NAME` shows it). Backends with
`auto_approve_changes: true` accept changes as they come (for development).

The pin covers what the *backend* says, before `tools:` overrides: the operator's own
configuration changes are not rug pulls.
"""

from __future__ import annotations

import difflib
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select, update

from pasarela import jsonsafe
from pasarela.catalog.spec import ToolSpec
from pasarela.state import StateStore
from pasarela.state.tables import tool_pins

log = structlog.get_logger("pasarela.pinning")


def pinned_form(spec: ToolSpec) -> dict[str, Any]:
    a = spec.annotations
    form: dict[str, Any] = {
        "backend": spec.backend,
        "origin": spec.origin,
        "description": spec.description,
        "inputSchema": spec.input_schema,
        "outputSchema": spec.output_schema,
        "annotations": {
            "read_only": a.read_only,
            "destructive": a.destructive,
            "idempotent": a.idempotent,
            "open_world": a.open_world,
        },
    }
    if spec.provenance is not None:  # only where a connector gives one, so other pins stay as they were
        form["provenance"] = spec.provenance
    return form


def canonical(spec: ToolSpec) -> str:
    return jsonsafe.dumps(pinned_form(spec), sort_keys=True, indent=True).decode()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Pinnable:
    """Anything pinned like a tool (a federated prompt or resource template too): its pin name,
    its backend, the canonical text of what the backend serves, and what to call it in messages."""

    name: str
    backend: str
    text: str
    label: str = "tool"


@dataclass(frozen=True, slots=True)
class Quarantined:
    name: str
    backend: str
    message: str


@dataclass(frozen=True, slots=True)
class Pin:
    name: str
    backend: str
    digest: str
    pinned_at: float
    pending_digest: str | None
    changed_at: float | None


class ToolPins:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def reconcile(
        self, specs: Iterable[ToolSpec], auto_approve: set[str], *, write: bool = True
    ) -> dict[str, Quarantined]:
        """Pin new tools, accept unchanged ones, quarantine changed ones; return the quarantined.

        With `write=False` (a command that only looks) nothing is pinned or recorded: the answer
        is what serving would quarantine.
        """
        forms = [Pinnable(spec.name, spec.backend, canonical(spec)) for spec in specs]
        return await self.reconcile_forms(forms, auto_approve, write=write)

    async def reconcile_forms(
        self, specs: Iterable[Pinnable], auto_approve: set[str], *, write: bool = True
    ) -> dict[str, Quarantined]:
        """`reconcile` for anything pinned by name (prompts and resource templates as well)."""
        specs = list(specs)
        if not write and self.store.schema is not None and self.store.schema.current is None:
            return {}  # an empty store: nothing pinned yet, nothing to compare against
        connect = self.store.engine.begin if write else self.store.engine.connect
        async with connect() as db:
            # Only what the comparison needs: the approved texts of every tool may be megabytes.
            columns = select(tool_pins.c.name, tool_pins.c.digest, tool_pins.c.pending_digest)
            rows = {row.name: row for row in (await db.execute(columns)).all()}
            plan = _plan(specs, rows, auto_approve)
            if write:
                for name, values in plan.updates:
                    await db.execute(update(tool_pins).where(tool_pins.c.name == name).values(**values))
                if plan.fresh:
                    await db.execute(self._insert_ignoring_conflicts(), plan.fresh)
        return plan.quarantined

    def _insert_ignoring_conflicts(self) -> Any:
        # Replicas starting together may both see a tool first: the first pin wins, quietly.
        return self.store.insert(tool_pins).on_conflict_do_nothing(index_elements=["name"])

    async def diff(self, name: str) -> str | None:
        """A unified diff from the approved definition to the pending one; None if nothing is pending.

        Raises KeyError if the tool was never pinned.
        """
        async with self.store.engine.connect() as db:
            row = (await db.execute(select(tool_pins).where(tool_pins.c.name == name))).first()
        if row is None:
            raise KeyError(name)
        if row.pending_spec is None:
            return None
        return "".join(
            difflib.unified_diff(
                row.spec.splitlines(keepends=True),
                row.pending_spec.splitlines(keepends=True),
                fromfile=f"{name} (approved)",
                tofile=f"{name} (served now)",
            )
        )

    async def listing(self) -> list[Pin]:
        """Every pin, by name: what is approved and whether a change waits for review."""
        c = tool_pins.c
        query = select(c.name, c.backend, c.digest, c.pinned_at, c.pending_digest, c.changed_at)
        async with self.store.engine.connect() as db:
            rows = (await db.execute(query.order_by(c.name))).all()
        return [Pin(*row) for row in rows]

    async def approve(self, name: str) -> bool:
        """Make the pending definition the approved one. False if nothing was pending; KeyError if unknown."""
        async with self.store.engine.begin() as db:
            row = (await db.execute(select(tool_pins).where(tool_pins.c.name == name))).first()
            if row is None:
                raise KeyError(name)
            if row.pending_digest is None:
                return False
            await db.execute(
                update(tool_pins)
                .where(tool_pins.c.name == name)
                .values(
                    digest=row.pending_digest,
                    spec=row.pending_spec,
                    pinned_at=time.time(),
                    pending_digest=None,
                    pending_spec=None,
                    changed_at=None,
                )
            )
        log.info("tool_change_approved", tool=name)
        return True


@dataclass(slots=True)
class _Plan:
    fresh: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    quarantined: dict[str, Quarantined] = field(default_factory=dict)


def _plan(specs: list[Pinnable], rows: dict[str, Any], auto_approve: set[str]) -> _Plan:
    """What reconciling would change, decided from the pinned digests alone."""
    plan, now = _Plan(), time.time()
    for spec in specs:
        text = spec.text
        current = digest(text)
        row = rows.get(spec.name)
        if row is None:
            plan.fresh.append(
                {
                    "name": spec.name,
                    "backend": spec.backend,
                    "digest": current,
                    "spec": text,
                    "pinned_at": now,
                }
            )
        elif row.digest == current:
            if row.pending_digest is not None:  # the backend went back to the approved form
                plan.updates.append(
                    (spec.name, {"pending_digest": None, "pending_spec": None, "changed_at": None})
                )
        elif spec.backend in auto_approve:
            plan.updates.append(
                (
                    spec.name,
                    {
                        "digest": current,
                        "spec": text,
                        "pinned_at": now,
                        "pending_digest": None,
                        "pending_spec": None,
                    },
                )
            )
            log.warning("tool_change_auto_approved", tool=spec.name, backend=spec.backend)
        else:
            if row.pending_digest != current:
                plan.updates.append(
                    (spec.name, {"pending_digest": current, "pending_spec": text, "changed_at": now})
                )
            log.warning("tool_quarantined", tool=spec.name, backend=spec.backend, kind=spec.label)
            plan.quarantined[spec.name] = Quarantined(
                spec.name,
                spec.backend,
                f"{spec.label} {spec.name!r} changed at its backend since it was approved; it is quarantined "
                f"until an operator reviews it (`pasarela tools diff {spec.name}`) and approves it "
                f"(`pasarela tools approve {spec.name}`)",
            )
    return plan
