"""Gateway.call: resolve the tool, run the stage chain, end at the connector."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog

from pasarela.catalog import Catalog, ToolSpec
from pasarela.connectors.base import Connector, Invocation, SpanTarget, UpstreamResult
from pasarela.errors import PasarelaError, ToolNotFound, ToolQuarantined
from pasarela.identity.principal import Principal
from pasarela.orchestration.plan import CompositePlan
from pasarela.orchestration.runner import BACKEND as COMPOSITE
from pasarela.orchestration.runner import CompositeRunner
from pasarela.pipeline.authorize import Authorizer
from pasarela.pipeline.call import (
    Call,
    CallTracer,
    Door,
    Next,
    Outcome,
    Progress,
    Stage,
    StageObserver,
    Via,
    iso,
)
from pasarela.pipeline.relay import AuditEvent, relay_for
from pasarela.plans import NO_PLAN, ToolPlan
from pasarela.telemetry.correlation import correlated, inbound, passthrough_headers
from pasarela.telemetry.correlation import current as current_correlation

log = structlog.get_logger("pasarela.gateway")

# Child calls (fallbacks, composite steps, jobs) nest at most this deep: a loop ends here.
MAX_DEPTH = 8
# The stages that decide whether a call is accepted at all: what a job's start goes through.
ADMISSION = frozenset({"telemetry", "audit", "scrub_secrets", "authorize", "validate"})

# (principal, tool name, arguments, door, request id, the error) for calls refused before any stage.
RejectionObserver = Callable[[Principal, str, Mapping[str, Any] | None, str, str, PasarelaError], None]


class Gateway:
    """The single entry point every door uses. Doors never touch connectors."""

    def __init__(
        self,
        catalog: Catalog,
        connectors: Mapping[str, Connector],
        stages: Sequence[Stage],
        authorizer: Authorizer,
        *,
        plans: Mapping[str, ToolPlan] | None = None,
        composites: Mapping[str, CompositePlan] | None = None,
        rejection_observers: Sequence[RejectionObserver] = (),
        observer: StageObserver | None = None,
        tracer: CallTracer | None = None,
    ) -> None:
        """`observer` wraps every stage; `tracer` (tracing on) also each call, attempt and
        backend call, and is the observer when none is given."""
        self.catalog = catalog
        self.connectors = dict(connectors)
        self.stages = tuple(stages)
        self.authorizer = authorizer
        self._plans = dict(plans or {})
        self._composites = {
            name: CompositeRunner(
                plan,
                lambda parent, tool, arguments, key: self.call_child(
                    parent, tool, arguments, via=Via.COMPOSITE, idempotency_key=key
                ),
            )
            for name, plan in (composites or {}).items()
        }
        self._rejection_observers = tuple(rejection_observers)
        self._children = 0  # numbers child request ids
        self.tracer = tracer
        self._targets: dict[str, SpanTarget] = {}  # per tool: how its backend call is traced
        # Compose once: a call walks a prebuilt chain of closures.
        self._observer = observer or tracer
        self._chain = self._compose(self.stages, self._invoke, self._observer)
        # Where an upstream's requests to the agent are recorded (None when the audit is off).
        self._audit_event: AuditEvent | None = next(
            (getattr(s, "event", None) for s in self.stages if s.name == "audit"), None
        )

    def composite_plan(self, name: str) -> CompositePlan:
        """The plan of composite `name` (KeyError if there is none)."""
        return self._composites[name].plan

    def plan_of(self, tool: str) -> ToolPlan:
        """The compiled settings of `tool` (the default plan if `tools:` says nothing of it)."""
        return self._plans.get(tool, NO_PLAN)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)

    @staticmethod
    def _compose(stages: Sequence[Stage], terminal: Next, observer: StageObserver | None) -> Next:
        chain = terminal
        for stage in reversed(stages):
            chain = _bind(stage, chain, observer)
        return chain

    def tools_for(self, principal: Principal, door: str) -> list[ToolSpec]:
        """The tools `principal` may see through `door`, in catalog order."""
        return self.authorizer.visible(principal, self.catalog, door)

    async def call(
        self,
        principal: Principal,
        tool_name: str,
        arguments: Mapping[str, Any] | None,
        *,
        door: Door,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        progress: Progress | None = None,
    ) -> Outcome:
        """A call an agent made through `door`; `progress` hears what the tool reports on the way
        (an MCP client's progress token)."""
        return await self._run(
            principal,
            tool_name,
            arguments,
            door=door,
            request_id=request_id or uuid.uuid4().hex,
            idempotency_key=idempotency_key,
            progress=progress,
        )

    async def call_child(
        self,
        parent: Call,
        tool_name: str,
        arguments: Mapping[str, Any] | None,
        *,
        via: Via,
        idempotency_key: str | None = None,
    ) -> Outcome:
        """A call the gateway makes on behalf of `parent` (a fallback, a composite step, a job's
        run): the whole pipeline again, as the same principal, through the same door, one level
        deeper and within the parent's deadline."""
        if parent.depth + 1 > MAX_DEPTH:
            raise PasarelaError(
                f"{tool_name!r} would nest calls {parent.depth + 1} deep (at most {MAX_DEPTH}); "
                f"quote request id {parent.request_id} to the operator"
            )
        self._children += 1
        return await self._run(
            parent.principal,
            tool_name,
            arguments,
            door=parent.door,
            request_id=f"{parent.request_id}-{via}-{self._children}",
            idempotency_key=idempotency_key,
            via=via,
            parent_id=parent.request_id,
            depth=parent.depth + 1,
            deadline=parent.deadline,
        )

    async def admit(
        self,
        principal: Principal,
        tool_name: str,
        arguments: Mapping[str, Any] | None,
        *,
        door: Door,
        request_id: str,
        then: Callable[[Call], Awaitable[Outcome]],
    ) -> Outcome:
        """Take a call as far as the decision to accept it — telemetry, audit, secrets scrubbed,
        policy, argument validation — then hand it to `then` instead of the backend (a job's
        start: stored now, run later through the whole pipeline)."""
        chain = self._compose([s for s in self.stages if s.name in ADMISSION], then, self._observer)
        return await self._run(principal, tool_name, arguments, door=door, request_id=request_id, chain=chain)

    async def run_job(
        self,
        principal: Principal,
        tool_name: str,
        arguments: Mapping[str, Any],
        *,
        door: Door,
        request_id: str,
        parent_id: str,
        effect_key: str,
        timeout: float,
        progress: Progress | None,
        attempt: int = 1,
        started_by: str | None = None,
    ) -> Outcome:
        """A job's run: the whole pipeline as the principal that started it, later. Its own
        deadline is the job's timeout; the backend sees the job's key on every attempt. The run
        is a trace of its own, linked to `started_by` (the start's `traceparent`); with tracing
        off, the run carries the start's trace id, as its audit records show."""
        run = self._run(
            principal,
            tool_name,
            arguments,
            door=door,
            request_id=request_id,
            via=Via.JOB,
            parent_id=parent_id,
            depth=1,
            deadline=time.monotonic() + timeout,
            effect_key=effect_key,
            timeout=timeout,
            progress=progress,
        )
        if self.tracer is not None:
            async with self.tracer.around_job(tool_name, request_id, attempt, started_by):
                return await run
        with correlated(inbound({"traceparent": started_by} if started_by else {})):
            return await run

    def traceparent(self) -> str | None:
        """Where the call being served stands in its trace, for work that continues later."""
        if self.tracer is not None:
            return self.tracer.traceparent()
        return current_correlation().traceparent

    async def _run(
        self,
        principal: Principal,
        tool_name: str,
        arguments: Mapping[str, Any] | None,
        *,
        door: Door,
        request_id: str,
        idempotency_key: str | None = None,
        via: Via = Via.AGENT,
        parent_id: str | None = None,
        depth: int = 0,
        deadline: float | None = None,
        effect_key: str | None = None,
        timeout: float | None = None,
        progress: Progress | None = None,
        chain: Next | None = None,
    ) -> Outcome:
        try:
            tool = self.catalog.get(tool_name)
        except (ToolNotFound, ToolQuarantined) as exc:
            # No Call can be built, so no stage runs; observers (the audit) still see the attempt.
            for observe in self._rejection_observers:
                observe(principal, tool_name, arguments, door, request_id, exc)
            raise
        call = Call(
            principal=principal,
            tool=tool,
            arguments=arguments if arguments is not None else {},
            door=door,
            request_id=request_id,
            idempotency_key=idempotency_key,
            via=via,
            parent_id=parent_id,
            depth=depth,
            deadline=deadline,
            effect_key=effect_key,
            timeout=timeout,
            progress=progress,
        )
        chain = chain or self._chain
        if self.tracer is None:
            return await chain(call)
        async with self.tracer.around_call(call):
            return await chain(call)

    async def _invoke(self, call: Call) -> Outcome:
        if call.tool.backend == COMPOSITE:
            return await self._composites[call.tool.name].run(call)
        connector = self.connectors[call.tool.backend]
        if self.tracer is None:
            upstream = await self._upstream(call, connector, passthrough_headers())
        else:
            async with self.tracer.around_backend(call, self._target(connector, call.tool)) as traced:
                upstream = await self._upstream(call, connector, traced.headers)
                traced.answered(upstream.status)
        received = time.time()
        meta = {**upstream.meta, "backend": call.tool.backend, "as_of": iso(upstream.as_of or received)}
        if upstream.last_modified is not None:
            meta["last_modified"] = iso(upstream.last_modified)
        return Outcome(upstream.data, meta, upstream_status=upstream.status, source=call.tool.backend)

    async def _upstream(self, call: Call, connector: Connector, headers: Mapping[str, str]) -> UpstreamResult:
        plan = self._plans.get(call.tool.name, NO_PLAN)
        effect_key = effect_key_of(call)
        invocation = Invocation(
            timeout=call.timeout if call.timeout is not None else plan.timeout,
            connect_timeout=plan.connect_timeout,
            deadline=call.deadline,
            headers={**headers, "Idempotency-Key": effect_key} if effect_key is not None else headers,
            call_tool=lambda tool, arguments: self._call_for_code(call, tool, arguments),
            idempotency_key=effect_key,
            progress=call.progress,
            follow=plan.follow,
            # Only connectors that can hear from their upstream mid-call (upstream MCP) get one.
            relay=relay_for(call, self.authorizer, self._audit_event)
            if getattr(connector, "relays", False)
            else None,
        )
        try:
            return await connector.invoke(call.tool, call.arguments, invocation)
        except PasarelaError:
            raise
        except Exception as exc:  # the one boundary where a connector bug becomes a clean 500
            log.exception("connector_failed", tool=call.tool.name, request_id=call.request_id)
            raise PasarelaError(
                f"the gateway failed while calling {call.tool.backend!r}; "
                f"quote request id {call.request_id} to the operator"
            ) from exc

    def _target(self, connector: Connector, tool: ToolSpec) -> SpanTarget:
        found = self._targets.get(tool.name)
        if found is None:
            describe = getattr(connector, "span_target", None)
            found = (
                describe(tool)
                if describe is not None
                else SpanTarget(f"execute_tool {tool.name}", "internal")
            )
            self._targets[tool.name] = found
        return found

    async def _call_for_code(self, parent: Call, tool: str, arguments: Mapping[str, Any]) -> Any:
        return (await self.call_child(parent, tool, arguments, via=Via.COMPOSITE)).result

    async def aclose(self) -> None:
        for connector in self.connectors.values():
            await connector.aclose()


def effect_key_of(call: Call) -> str | None:
    """The key the backend sees for this call: the job's own, or one derived from the agent's
    Idempotency-Key and its principal (two agents' equal keys must not meet at the backend)."""
    if call.effect_key is not None:
        return call.effect_key
    if call.idempotency_key is None:
        return None
    scoped = f"{call.principal.id}\x00{call.idempotency_key}".encode()
    return hashlib.sha256(scoped).hexdigest()[:32]


def _bind(stage: Stage, call_next: Next, observer: StageObserver | None) -> Next:
    # A stage may say, per call, whether it does any work worth observing (`traced(call)`): one
    # that only passes the call on gets no span.
    traced: Callable[[Call], bool] | None = getattr(stage, "traced", None)

    async def run(call: Call) -> Outcome:
        try:
            if observer is None or (traced is not None and not traced(call)):
                return await stage(call, call_next)
            async with observer.around(stage.name, call):
                return await stage(call, call_next)
        except PasarelaError:
            raise
        except Exception as exc:
            # The one boundary for foreign errors, at every link: translated where it was raised,
            # so the stages outside it (audit, telemetry) see a PasarelaError and record the call.
            raise _internal(call, exc) from exc

    return run


def _internal(call: Call, exc: Exception) -> PasarelaError:
    log.error(
        "gateway_failed",
        tool=call.tool.name,
        request_id=call.request_id,
        error=type(exc).__name__,
        exc_info=exc,
    )
    return PasarelaError(
        f"the gateway failed while handling {call.tool.name!r}; quote request id {call.request_id} to the operator"
    )
