"""Argument validation against the tool's input schema, before anything reaches a backend."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from pasarela.catalog import ToolSpec
from pasarela.errors import ArgumentProblem, InvalidArguments
from pasarela.pipeline.call import Call, Next, Outcome

MAX_REPORTED = 20


def _pointer(error: ValidationError) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        wanted = error.validator_value if isinstance(error.validator_value, list) else []
        missing = next((r for r in wanted if r not in error.instance), None)
        if missing is not None:
            parts.append(str(missing))
    return "/" + "/".join(parts)


def _message(error: ValidationError) -> str:
    if error.validator == "required":
        return "required argument is missing"
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown argument(s)")
    return error.message


class ValidateStage:
    """Compiles one validator per tool at start-up; a call only runs it."""

    name = "validate"

    def __init__(self, tools: Iterable[ToolSpec]) -> None:
        self._validators = {t.name: Draft202012Validator(dict(t.input_schema)) for t in tools}

    def problems(self, tool: str, arguments: Any) -> list[ArgumentProblem]:
        if not isinstance(arguments, dict):
            return [ArgumentProblem("", "arguments must be a JSON object")]
        errors = sorted(
            self._validators[tool].iter_errors(arguments), key=lambda e: list(map(str, e.absolute_path))
        )
        return [ArgumentProblem(_pointer(e), _message(e)) for e in errors[:MAX_REPORTED]]

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        problems = self.problems(call.tool.name, call.arguments)
        if problems:
            paths = ", ".join(p.path or "/" for p in problems)
            raise InvalidArguments(f"arguments for {call.tool.name!r} are not valid at: {paths}", problems)
        return await call_next(call)
