"""Running a composite: each step an ordinary child call through the whole pipeline.

A step starts as soon as the steps it reads have finished, so independent steps overlap. The
composite's deadline bounds every step; cancelling the composite cancels the steps in flight.
A required step that fails fails the composite with that step's problem; any other failure is
reported in `meta.errors` and makes the answer partial.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import anyio
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from pasarela.errors import InvalidArguments, PasarelaError, UpstreamError, UpstreamTimeout
from pasarela.orchestration.functions import OPTIONS
from pasarela.orchestration.plan import CompositePlan, StepPlan
from pasarela.pipeline.call import Call, Outcome, iso

# (the composite's call, the step's tool, its arguments, the step's own idempotency key)
ChildCall = Callable[[Call, str, Mapping[str, Any], str | None], Awaitable[Outcome]]
BACKEND = "composite"  # the backend name of every composite tool


@dataclass(slots=True)
class StepReport:
    step: str
    tool: str | None = None
    status: str = "pending"  # ok | skipped | failed
    duration_ms: float = 0.0
    cache: str | None = None
    error: PasarelaError | None = None
    as_of: str | None = None  # the oldest `as_of` among the step's answers

    def public(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"step": self.step, "tool": self.tool, "status": self.status}
        shown["duration_ms"] = round(self.duration_ms, 3)
        if self.cache is not None:
            shown["cache"] = self.cache
        return shown


class _StepFailed(Exception):
    """A required step failed: ends the composite with that step's problem."""

    def __init__(self, error: PasarelaError) -> None:
        self.error = error


class CompositeRunner:
    def __init__(self, plan: CompositePlan, call_child: ChildCall) -> None:
        self.plan = plan
        self.call_child = call_child
        # Steps that each need the one before run in turn, in that order (declared order may differ).
        self._in_turn = [plan.steps[wave[0]] for wave in plan.waves()] if plan.sequential else None

    async def run(self, call: Call) -> Outcome:
        deadline = time.monotonic() + self.plan.timeout
        parent = replace(call, deadline=min(deadline, call.deadline or deadline))
        context: dict[str, Any] = {"input": dict(call.arguments), "steps": {}}
        reports = {name: StepReport(name) for name in self.plan.steps}
        if self._in_turn is not None:
            try:
                for step in self._in_turn:
                    context["steps"][step.name] = await self._step(parent, step, context, reports[step.name])
            except _StepFailed as failed:
                raise failed.error from None
        else:
            await self._concurrently(parent, context, reports)
        try:
            result = self.plan.result.search(context, OPTIONS)
        except JMESPathError as exc:
            raise PasarelaError(
                f"composite {self.plan.name!r}: its result expression failed: {exc}"
            ) from None
        errors = [
            {"step": r.step, "tool": r.tool, "code": r.error.code, "detail": r.error.detail}
            for r in reports.values()
            if r.error is not None
        ]
        meta = {"partial": bool(errors), "errors": errors, "steps": [r.public() for r in reports.values()]}
        # As fresh as its stalest part (ISO 8601 in UTC compares as text).
        meta["as_of"] = min((r.as_of for r in reports.values() if r.as_of), default=iso(time.time()))
        return Outcome(result, meta, source=BACKEND)

    async def _concurrently(
        self, parent: Call, context: dict[str, Any], reports: dict[str, StepReport]
    ) -> None:
        """Each step in its own task, started once the steps it reads have finished."""
        finished = {name: anyio.Event() for name in self.plan.steps}

        async def run_step(step: StepPlan) -> None:
            for need in step.needs:
                await finished[need].wait()
            try:
                context["steps"][step.name] = await self._step(parent, step, context, reports[step.name])
            finally:
                finished[step.name].set()

        try:
            async with anyio.create_task_group() as group:
                for step in self.plan.steps.values():
                    group.start_soon(run_step, step)
        except* _StepFailed as failed:
            first = failed.exceptions[0]
            assert isinstance(first, _StepFailed)
            raise first.error from None

    async def _step(self, parent: Call, step: StepPlan, context: dict[str, Any], report: StepReport) -> Any:
        started = time.perf_counter()
        try:
            if step.when is not None and not _truthy(step.when.search(context, OPTIONS)):
                report.status = "skipped"
                return None
            remaining = (parent.deadline or time.monotonic()) - time.monotonic()
            limit = min(step.timeout, remaining) if step.timeout is not None else remaining
            try:
                with anyio.fail_after(max(0.0, limit)):
                    value = await self._calls(parent, step, context, report)
            except TimeoutError:
                raise UpstreamTimeout(
                    f"step {step.name!r} did not finish within the composite's time", backend=BACKEND
                ) from None
            report.status = "ok"
            return value
        except (PasarelaError, JMESPathError) as exc:
            if isinstance(exc, JMESPathError):  # e.g. a function given a value of another type
                exc = PasarelaError(f"step {step.name!r}: an expression could not be evaluated: {exc}")
            report.status, report.error = "failed", exc.with_extra(step=step.name)
            if step.on_error == "fail" and step.required:
                raise _StepFailed(report.error) from None
            return step.default if step.on_error == "default" else None
        finally:
            report.duration_ms = (time.perf_counter() - started) * 1000

    async def _calls(self, parent: Call, step: StepPlan, context: dict[str, Any], report: StepReport) -> Any:
        if step.for_each is None:
            return await self._one(parent, step, context, report, 0)
        items = step.for_each.search(context, OPTIONS)
        if items is None:  # what it would fan out over is missing (e.g. a skipped step): nothing to do
            return []
        if not isinstance(items, list):
            raise InvalidArguments(
                f"step {step.name!r}: for_each gave {type(items).__name__}, not a list", []
            )
        results: list[Any] = [None] * len(items)
        limiter = anyio.CapacityLimiter(step.max_concurrency)

        failures: list[PasarelaError] = []

        async def one(index: int, item: Any) -> None:
            try:
                async with limiter:
                    results[index] = await self._one(parent, step, {**context, "item": item}, report, index)
            except PasarelaError as exc:  # the first failing item fails the step; the rest stop
                failures.append(exc)
                group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            for index, item in enumerate(items):
                group.start_soon(one, index, item)
        if failures:
            raise failures[0]
        return results

    async def _one(
        self, parent: Call, step: StepPlan, context: Mapping[str, Any], report: StepReport, index: int
    ) -> Any:
        try:
            tool, expressions = _route(step, context)
            report.tool = tool
            # An expression that gives null leaves its argument out (an optional input not given).
            values = [(name, expression.search(context, OPTIONS)) for name, expression in expressions]
        except JMESPathError as exc:
            raise PasarelaError(f"step {step.name!r}: an expression could not be evaluated: {exc}") from None
        arguments = {name: value for name, value in values if value is not None}
        outcome = await self.call_child(parent, tool, arguments, _derived_key(parent, step, index))
        report.cache = outcome.cache or report.cache
        as_of = outcome.meta.get("as_of")
        if isinstance(as_of, str) and (report.as_of is None or as_of < report.as_of):
            report.as_of = as_of
        return outcome.result


def _derived_key(parent: Call, step: StepPlan, index: int) -> str | None:
    """A retried composite (same key) replays each write it already made instead of repeating it."""
    if parent.idempotency_key is None:
        return None
    return hashlib.sha256(f"{parent.idempotency_key}\x00{step.name}\x00{index}".encode()).hexdigest()


def _route(step: StepPlan, context: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, ParsedResult], ...]]:
    """The tool the first applying case names, and that case's argument expressions."""
    for condition, tool, arguments in step.cases:
        if condition is None or _truthy(condition.search(context, OPTIONS)):
            return tool, arguments
    raise UpstreamError(f"step {step.name!r}: no case of its switch applies", backend=BACKEND)


def _truthy(value: Any) -> bool:
    """JMESPath's own truth: false, null, "", [] and {} are false."""
    return not (value is None or value is False or value in ("", [], {}))
