"""The audit stage: one record per call and per denial, queued for the chained writer.

Building a record never fails (any value an agent can send is recorded, or stood in for), and
a call that must be durable answers only once its record is committed. While the writer cannot
write, calls it may not serve are refused before any other stage runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import structlog

from pasarela import jsonsafe
from pasarela.audit.writer import AuditLost, AuditWriter
from pasarela.catalog.spec import ToolSpec
from pasarela.errors import AuditUnavailable, PasarelaError
from pasarela.identity.principal import Principal
from pasarela.pipeline.authorize import Decision
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.pipeline.notes import notebook
from pasarela.secrets import Redactor
from pasarela.telemetry import correlation

log = structlog.get_logger("pasarela.audit")

MASK = "***"
MAX_ARGUMENTS = 8192


@dataclass(frozen=True, slots=True)
class AuditRules:
    """When an answer waits for its record, and what is refused while the trail cannot be written."""

    durability: Literal["writes", "all", "none"] = "writes"
    commit_timeout: float = 5.0
    when_unavailable: Literal["refuse_writes", "refuse_all", "serve"] = "refuse_writes"

    def durable(self, tool: ToolSpec) -> bool:
        return self.durability == "all" or (self.durability == "writes" and not tool.annotations.read_only)

    def refuses(self, tool: ToolSpec) -> bool:
        return self.when_unavailable == "refuse_all" or (
            self.when_unavailable == "refuse_writes" and not tool.annotations.read_only
        )


class AuditStage:
    name = "audit"

    def __init__(
        self,
        writer: AuditWriter,
        redactor: Redactor,
        sensitive: Mapping[str, Collection[str]],
        rules: AuditRules | None = None,
    ) -> None:
        self.writer = writer
        self.redactor = redactor
        self.sensitive = {tool: frozenset(names) for tool, names in sensitive.items()}
        self.rules = rules or AuditRules()

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        started = time.perf_counter()
        durable = self.rules.durable(call.tool)
        if not self.writer.healthy and self.rules.refuses(call.tool):
            refusal = AuditUnavailable(
                "the audit trail cannot be written right now, and this call would go unaudited; retry later",
                retry_after=1.0,
            )
            self._record(call, None, refusal.code, None, started, durable=False)
            raise refusal
        with notebook() as notes:
            try:
                outcome = await call_next(call)
            except PasarelaError as exc:
                committed = self._record(
                    call,
                    notes.get("decision"),
                    exc.code,
                    getattr(exc, "upstream_status", None),
                    started,
                    durable,
                )
                if committed is not None and not await self._settled(committed, call):
                    log.error("audit_not_durable", request_id=call.request_id, outcome=exc.code)
                raise
            except BaseException as exc:
                # The agent cancelled (MCP `notifications/cancelled`, a dropped connection) or a
                # stage failed unexpectedly: the backend may already have done the work, so the
                # call is recorded all the same. Nothing is awaited here: a cancelled task may not
                # wait, and the record is queued for the next batch.
                code = "cancelled" if isinstance(exc, asyncio.CancelledError) else "internal"
                self._record(call, notes.get("decision"), code, None, started, durable=False)
                raise
            committed = self._record(
                call, notes.get("decision"), "ok", outcome.upstream_status, started, durable, outcome.cache
            )
        if committed is not None and not await self._settled(committed, call):
            raise AuditUnavailable(
                f"the call completed, but its audit record was not committed within "
                f"{self.rules.commit_timeout:g}s, so its answer is withheld; it stays queued. "
                f"Do not repeat a write blindly: quote request id {call.request_id} to the operator",
                retry_after=self.rules.commit_timeout,
                completed=True,
            )
        return outcome

    async def _settled(self, committed: asyncio.Future[None], call: Call) -> bool:
        try:
            # shield: a client that goes away must not cancel the commit others share.
            async with asyncio.timeout(self.rules.commit_timeout):
                await asyncio.shield(committed)
        except (TimeoutError, AuditLost):
            self.writer.report_stall()
            return False
        return True

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

    def event(
        self,
        principal: Principal,
        tool: str,
        door: str,
        request_id: str,
        *,
        parent_id: str,
        outcome: str,
        via: str = "job",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Something done to a call already recorded, not a call: e.g. a job cancelled by
        `principal` (`job_cancelled`), recorded under the job's start (`parent_id`), or an
        upstream's sampling request relayed to the agent during a call (`via: upstream`);
        `details` go where a call's arguments would."""
        arguments = self._arguments(tool, details) if details else "{}"
        self.writer.submit(
            self._base(principal, tool, door, request_id, arguments)
            | {
                "decision": "deny" if outcome.endswith("_denied") else "allow",
                "policies": "[]",
                "outcome": outcome,
                "upstream_status": None,
                "latency_ms": 0.0,
                "parent_id": parent_id,
                "via": via,
            }
        )

    def access(
        self,
        principal: Principal,
        subject: str,
        arguments: Mapping[str, Any],
        door: str,
        request_id: str,
        *,
        decision: Decision,
        outcome: str,
        backend: str | None,
    ) -> None:
        """What is not a tool call but is governed like one: an MCP prompt got or a resource
        read (`subject` is `prompt:<name>` or `resource:<name>`)."""
        record = self._base(principal, subject, door, request_id, self._arguments(subject, arguments))
        if backend is not None:
            record["backend"] = backend
        self.writer.submit(
            record
            | {
                "decision": "allow" if decision.allowed else "deny",
                "policies": orjson.dumps([p.label for p in decision.policies]).decode(),
                "outcome": outcome,
                "upstream_status": None,
                "latency_ms": 0.0,
            }
        )

    @staticmethod
    def _base(principal: Principal, tool: str, door: str, request_id: str, arguments: str) -> dict[str, Any]:
        record = {
            "at": time.time(),
            "request_id": request_id,
            "principal": principal.id,
            "on_behalf_of": principal.on_behalf_of.id if principal.on_behalf_of else None,
            "door": door,
            "tool": tool,
            "arguments": arguments,
        }
        found = correlation.current()
        if found.trace_id is not None:  # optional fields are hashed only when set
            record["trace_id"] = found.trace_id
        if found.session is not None:
            record["session"] = found.session
        if found.conversation is not None:
            record["conversation"] = found.conversation
        return record

    def _record(
        self,
        call: Call,
        decision: Decision | None,
        outcome: str,
        upstream_status: Any,
        started: float,
        durable: bool,
        cache: str | None = None,
    ) -> asyncio.Future[None] | None:
        base = self._base(
            call.principal,
            call.tool.name,
            call.door,
            call.request_id,
            self._arguments(call.tool.name, call.arguments),
        )
        if call.parent_id is not None:  # a step of a composite, a fallback: the trail shows the tree
            base |= {"parent_id": call.parent_id, "via": str(call.via)}
        base["backend"] = call.tool.backend  # KPIs per backend, from durable data
        if cache is not None:
            base["cache"] = cache
        return self.writer.submit(
            base
            | {
                "decision": "allow" if decision is not None and decision.allowed else "deny",
                "policies": orjson.dumps([p.label for p in decision.policies] if decision else []).decode(),
                "outcome": outcome,
                "upstream_status": upstream_status
                if isinstance(upstream_status, int) and 0 <= upstream_status < 1000
                else None,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            },
            durable=durable,
        )

    def _arguments(self, tool: str, arguments: Any) -> str:
        """The arguments as JSON, masked and redacted; any value at all is recorded, never an error."""
        hidden = self.sensitive.get(tool, frozenset())
        try:
            if isinstance(arguments, Mapping):
                arguments = {k: (MASK if k in hidden else v) for k, v in arguments.items()}
            text = jsonsafe.dumps(self.redactor.scrub(arguments)).decode()
        except RecursionError:  # the doors bound depth; this only guards a call made in-process
            text = '"…nested too deep to record…"'
        return text if len(text) <= MAX_ARGUMENTS else text[: MAX_ARGUMENTS - 1] + "…"
