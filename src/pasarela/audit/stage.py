"""The audit stage: one record per call and per denial, queued for the chained writer."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from pasarela.audit.writer import AuditWriter
from pasarela.errors import PasarelaError
from pasarela.pipeline.authorize import Decision
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.pipeline.notes import notebook
from pasarela.secrets import Redactor

MASK = "***"
MAX_ARGUMENTS = 8192


class AuditStage:
    def __init__(
        self, writer: AuditWriter, redactor: Redactor, sensitive: Mapping[str, Sequence[str]]
    ) -> None:
        self.writer = writer
        self.redactor = redactor
        self.sensitive = {tool: frozenset(names) for tool, names in sensitive.items()}

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        started = time.perf_counter()
        with notebook() as notes:
            try:
                outcome = await call_next(call)
            except PasarelaError as exc:
                self._record(
                    call, notes.get("decision"), exc.code, getattr(exc, "upstream_status", None), started
                )
                raise
            self._record(call, notes.get("decision"), "ok", outcome.meta.get("upstream_status"), started)
            return outcome

    def _record(
        self, call: Call, decision: Decision | None, outcome: str, upstream_status: int | None, started: float
    ) -> None:
        self.writer.submit(
            {
                "at": time.time(),
                "request_id": call.request_id,
                "principal": call.principal.id,
                "on_behalf_of": call.principal.on_behalf_of.id if call.principal.on_behalf_of else None,
                "door": call.door,
                "tool": call.tool.name,
                "arguments": self._arguments(call),
                "decision": "allow" if decision is not None and decision.allowed else "deny",
                "policies": orjson.dumps([p.label for p in decision.policies] if decision else []).decode(),
                "outcome": outcome,
                "upstream_status": upstream_status if isinstance(upstream_status, int) else None,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )

    def _arguments(self, call: Call) -> str:
        hidden = self.sensitive.get(call.tool.name, frozenset())
        arguments: Any = call.arguments
        if isinstance(arguments, Mapping):
            arguments = {k: (MASK if k in hidden else v) for k, v in arguments.items()}
        text = orjson.dumps(self.redactor.scrub(arguments), default=str).decode()
        return text if len(text) <= MAX_ARGUMENTS else text[: MAX_ARGUMENTS - 1] + "…"
