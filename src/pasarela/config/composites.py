"""`composites:` — tools that orchestrate other tools (docs/composites.md).

Each step calls a tool (or picks one with `switch`) with arguments written as JMESPath
expressions over `input` (the composite's arguments), `steps.<name>` (an earlier step's result)
and, inside `for_each`, `item`. A step depends on the steps its expressions name; steps that do
not depend on each other run concurrently.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from pasarela.config.base import NAME, Strict
from pasarela.config.durations import Duration


class SwitchCase(Strict):
    when: str | None = Field(None, description="A JMESPath condition; the first case that holds is taken")
    tool: str = Field(description="The tool this case calls")
    arguments: dict[str, str] | None = Field(
        None, description="This case's own arguments (default: the step's)"
    )


class OnErrorDefault(Strict):
    default: Any = Field(description="The value the step's result takes when it fails")


class StepSettings(Strict):
    tool: str | None = Field(None, description="The tool this step calls")
    switch: list[SwitchCase] | None = Field(
        None, min_length=1, description="Routing: the first case whose `when` holds picks the tool"
    )
    arguments: dict[str, str] = Field(
        {}, description="Argument name → JMESPath over input, steps and (in for_each) item"
    )
    when: str | None = Field(None, description="Run only if this JMESPath condition holds")
    for_each: str | None = Field(None, description="One call per item of this list (JMESPath)")
    max_concurrency: int = Field(4, ge=1, le=64, description="for_each: calls in flight at once")
    timeout: Duration | None = Field(None, description="This step's own limit (within the composite's)")
    on_error: Literal["fail", "skip"] | OnErrorDefault = Field(
        "fail", description="fail the composite, skip the step (null result), or {default: VALUE}"
    )
    required: bool = Field(
        True, description="A required step that fails fails the composite; others make it partial"
    )

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.tool is None) == (self.switch is None):
            raise ValueError("a step needs exactly one of `tool` and `switch`")
        return self


class CompositeSettings(Strict):
    description: str = Field(description="What agents see")
    input: dict[str, Any] = Field(
        {"type": "object", "properties": {}}, description="The JSON Schema of the composite's arguments"
    )
    steps: dict[Annotated[str, Field(pattern=NAME)], StepSettings] = Field(min_length=1)
    result: str = Field(description="JMESPath over input and steps: the composite's answer")
    output: str | None = Field(None, description="A registry schema (e.g. overview@1) the result must fit")
    timeout: Duration = Field(30.0, description="The whole composite's deadline; its steps share it")
