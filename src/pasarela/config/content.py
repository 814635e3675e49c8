"""`resources:` and `prompts:` — MCP resources, resource templates and prompts declared in
pasarela.yaml (docs/doors.md). Content is text written here, a file shipped with the
configuration, or the result of a read-only tool called through the whole pipeline."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from pasarela.config.base import NAME, Strict, exactly_one

# Completions offer at most this many values; more examples are refused at load.
MAX_CHOICES = 100


class ChoiceSettings(Strict):
    """What an argument or a template variable accepts: offered as completions."""

    description: str | None = None
    enum: list[str] | None = Field(None, description="The only values accepted (completions offer them)")
    examples: list[str] = Field([], description="Values offered as completions (others are accepted)")

    @field_validator("enum", "examples")
    @classmethod
    def _bounded(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(value) > MAX_CHOICES:
            raise ValueError(f"at most {MAX_CHOICES} values, got {len(value)}")
        return value


class ToolContentSettings(Strict):
    """A read-only tool whose result is the content; template variables become its arguments."""

    name: str = Field(description="The tool (its final name); it must be read-only")
    arguments: dict[str, Any] = Field({}, description="Arguments always sent (variables are added)")


class ResourceSettings(Strict):
    """A resource (`uri`) or a resource template (`uri_template`)."""

    uri: str | None = Field(None, description="The resource's URI, e.g. pasarela://docs/faq")
    uri_template: str | None = Field(
        None, description="An RFC 6570 template, e.g. bank://customers/{customer_id}{?region}"
    )
    title: str | None = None
    description: str | None = None
    mime_type: str | None = Field(None, description="Default: text/plain for text and files, JSON for tools")
    text: str | None = Field(None, description="The content, written here")
    file: str | None = Field(None, description="A file shipped with the configuration (relative to it)")
    tool: ToolContentSettings | None = Field(None, description="A read-only tool's result")
    variables: dict[Annotated[str, Field(pattern=NAME)], ChoiceSettings] = Field(
        {}, description="The template's variables: their enums and examples (completions)"
    )

    @model_validator(mode="after")
    def _shape(self) -> Self:
        exactly_one(self, ("uri", "uri_template"), "address")
        exactly_one(self, ("text", "file", "tool"), "content")
        if self.uri_template is not None and self.tool is None:
            raise ValueError("a resource template's content is a tool's result (tool: {name: …})")
        if self.uri is not None and self.variables:
            raise ValueError("variables are for uri_template; a uri has none")
        return self


class PromptArgumentSettings(ChoiceSettings):
    required: bool = False


class PromptMessageSettings(Strict):
    """One message; `{argument}` in its text is replaced by the argument's value."""

    role: Literal["user", "assistant"] = "user"
    text: str | None = None
    file: str | None = Field(None, description="A file shipped with the configuration (relative to it)")

    @model_validator(mode="after")
    def _one(self) -> Self:
        exactly_one(self, ("text", "file"), "message content")
        return self


class PromptSettings(Strict):
    title: str | None = None
    description: str | None = None
    arguments: dict[Annotated[str, Field(pattern=NAME)], PromptArgumentSettings] = {}
    messages: list[PromptMessageSettings] = Field(min_length=1)
