"""The audit stage: one record per call and per denial, queued for the chained writer."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from pasarela.audit.writer import AuditWriter
from pasarela.errors import PasarelaError
from pasarela.identity.principal import Principal
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

    def rejected(
        self,
        principal: Principal,
        tool: str,
        arguments: Mapping[str, Any] | None,
        door: str,
        request_id: str,
        error: PasarelaError,
    ) -> None:
        """A call refused before the pipeline (unknown or quarantined tool): recorded as a denial."""
        self.writer.submit(
            self._base(principal, tool, door, request_id, self._arguments(tool, arguments or {}))
            | {
                "decision": "deny",
                "policies": "[]",
                "outcome": error.code,
                "upstream_status": None,
                "latency_ms": 0.0,
            }
        )

    @staticmethod
    def _base(principal: Principal, tool: str, door: str, request_id: str, arguments: str) -> dict[str, Any]:
        return {
            "at": time.time(),
            "request_id": request_id,
            "principal": principal.id,
            "on_behalf_of": principal.on_behalf_of.id if principal.on_behalf_of else None,
            "door": door,
            "tool": tool,
            "arguments": arguments,
        }

    def _record(
        self, call: Call, decision: Decision | None, outcome: str, upstream_status: int | None, started: float
    ) -> None:
        base = self._base(
            call.principal,
            call.tool.name,
            call.door,
            call.request_id,
            self._arguments(call.tool.name, call.arguments),
        )
        self.writer.submit(
            base
            | {
                "decision": "allow" if decision is not None and decision.allowed else "deny",
                "policies": orjson.dumps([p.label for p in decision.policies] if decision else []).decode(),
                "outcome": outcome,
                "upstream_status": upstream_status if isinstance(upstream_status, int) else None,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )

    def _arguments(self, tool: str, arguments: Any) -> str:
        hidden = self.sensitive.get(tool, frozenset())
        if isinstance(arguments, Mapping):
            arguments = {k: (MASK if k in hidden else v) for k, v in arguments.items()}
        text = orjson.dumps(self.redactor.scrub(arguments), default=str).decode()
        return text if len(text) <= MAX_ARGUMENTS else text[: MAX_ARGUMENTS - 1] + "…"
