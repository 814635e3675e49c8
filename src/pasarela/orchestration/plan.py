"""A composite's plan: its expressions compiled, its steps' dependencies read from them, checked.

Every problem names its key path (`composites.<name>.steps.<step>.arguments.<arg>`): an
expression that does not parse, a reference to a step that does not exist, a tool that does
not exist, steps that wait for each other, a composite that reaches itself through others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from pasarela.config.composites import CompositeSettings, OnErrorDefault, StepSettings
from pasarela.errors import ConfigProblem
from pasarela.graphs import find_cycle


@dataclass(frozen=True, slots=True)
class StepPlan:
    name: str
    # (condition, tool, arguments); a plain `tool` is one case with the step's arguments
    cases: tuple[tuple[ParsedResult | None, str, tuple[tuple[str, ParsedResult], ...]], ...]
    when: ParsedResult | None
    for_each: ParsedResult | None
    max_concurrency: int
    timeout: float | None
    on_error: str  # fail | skip | default
    default: Any
    required: bool
    needs: frozenset[str]

    @property
    def tools(self) -> tuple[str, ...]:
        return tuple(tool for _, tool, _ in self.cases)


@dataclass(frozen=True, slots=True)
class CompositePlan:
    name: str
    steps: Mapping[str, StepPlan]
    result: ParsedResult
    timeout: float

    def waves(self) -> list[list[str]]:
        """The steps in the order they can start: each wave needs only earlier waves."""
        done: set[str] = set()
        waves: list[list[str]] = []
        while len(done) < len(self.steps):
            wave = [n for n, s in self.steps.items() if n not in done and s.needs <= done]
            waves.append(wave)
            done.update(wave)
        return waves

    @property
    def sequential(self) -> bool:
        """Whether each step needs the one before (nothing could overlap): then the runner
        runs them in turn, without a task per step."""
        return all(len(wave) == 1 for wave in self.waves())


class _Compiler:
    def __init__(self, source: str, name: str) -> None:
        self.source, self.name = source, name
        self.problems: list[ConfigProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.source, f"composites.{self.name}.{path}", message))

    def expression(self, path: str, text: str) -> ParsedResult | None:
        try:
            return jmespath.compile(text)
        except JMESPathError as exc:
            self.problem(path, f"not a valid JMESPath expression: {exc}")
            return None


def _step_references(node: Any) -> Iterator[str | None]:
    """The step names an expression reads (`steps.<name>…`); None for a bare `steps`."""
    if not isinstance(node, dict):
        return
    children = node.get("children", [])
    if node.get("type") == "subexpression" and children and _is_field(children[0], "steps"):
        yield _first_field(children[1]) if len(children) > 1 else None
        for child in children[1:]:
            yield from _step_references(child)
        return
    if _is_field(node, "steps"):
        yield None
    for child in children:
        yield from _step_references(child)


def _is_field(node: Any, name: str) -> bool:
    return isinstance(node, dict) and node.get("type") == "field" and node.get("value") == name


def _first_field(node: Any) -> str | None:
    while isinstance(node, dict):
        if node.get("type") == "field":
            return str(node.get("value"))
        children = node.get("children") or [None]
        node = children[0]
    return None


def compile_composite(
    name: str, settings: CompositeSettings, known_tools: set[str], source: str
) -> tuple[CompositePlan | None, list[ConfigProblem]]:
    compiler = _Compiler(source, name)
    steps = {
        step: _compile_step(compiler, step, s, set(settings.steps), known_tools)
        for step, s in settings.steps.items()
    }
    result = compiler.expression("result", settings.result)
    plan_steps = {step: plan for step, plan in steps.items() if plan is not None}
    if len(plan_steps) == len(steps):
        cycle = find_cycle({step: sorted(plan.needs) for step, plan in plan_steps.items()})
        if cycle:
            compiler.problem("steps", "steps wait for each other: " + " → ".join(cycle))
    if compiler.problems or result is None:
        return None, compiler.problems
    return CompositePlan(name, plan_steps, result, settings.timeout), []


def _compile_step(
    compiler: _Compiler, step: str, settings: StepSettings, steps: set[str], known_tools: set[str]
) -> StepPlan | None:
    where = f"steps.{step}"
    before = len(compiler.problems)
    expressions: dict[str, ParsedResult | None] = {}

    def compiled(path: str, texts: dict[str, str]) -> tuple[tuple[str, ParsedResult], ...]:
        found = []
        for argument, text in texts.items():
            parsed = compiler.expression(f"{path}.{argument}", text)
            expressions[f"{path}.{argument}"] = parsed
            if parsed is not None:
                found.append((argument, parsed))
        return tuple(found)

    arguments = compiled(f"{where}.arguments", settings.arguments)
    cases: list[tuple[ParsedResult | None, str, tuple[tuple[str, ParsedResult], ...]]] = []
    if settings.tool is not None:
        cases.append((None, settings.tool, arguments))
    for index, case in enumerate(settings.switch or []):
        path = f"{where}.switch[{index}]"
        condition = compiler.expression(f"{path}.when", case.when) if case.when else None
        expressions[f"{path}.when"] = condition
        own = compiled(f"{path}.arguments", case.arguments) if case.arguments is not None else arguments
        cases.append((condition, case.tool, own))
    for index, (_, tool, _) in enumerate(cases):
        if tool not in known_tools:
            key = f"{where}.tool" if settings.tool is not None else f"{where}.switch[{index}].tool"
            compiler.problem(key, f"no tool named {tool!r}")
    when = compiler.expression(f"{where}.when", settings.when) if settings.when else None
    for_each = compiler.expression(f"{where}.for_each", settings.for_each) if settings.for_each else None
    expressions[f"{where}.when"], expressions[f"{where}.for_each"] = when, for_each
    needs: set[str] = set()
    for path, parsed in expressions.items():
        for ref in _step_references(parsed.parsed if parsed is not None else None):
            if ref is None:
                compiler.problem(path, "name the step whose result is read: steps.<name>")
            elif ref not in steps:
                compiler.problem(path, f"no step named {ref!r} (steps: {', '.join(sorted(steps))})")
            elif ref == step:
                compiler.problem(path, "a step cannot read its own result")
            else:
                needs.add(ref)
    if len(compiler.problems) > before:
        return None
    on_error = settings.on_error
    return StepPlan(
        name=step,
        cases=tuple(cases),
        when=when,
        for_each=for_each,
        max_concurrency=settings.max_concurrency,
        timeout=settings.timeout,
        on_error="default" if isinstance(on_error, OnErrorDefault) else on_error,
        default=on_error.default if isinstance(on_error, OnErrorDefault) else None,
        required=settings.required,
        needs=frozenset(needs),
    )
