"""`resources:` and `prompts:` from pasarela.yaml, checked at load: files inside the
configuration's directory, read-only tools that exist, template variables that the tool takes.
Every problem names its key path."""

from __future__ import annotations

from pathlib import Path

from mcp.shared.uri_template import InvalidUriTemplate, UriTemplate

from pasarela.catalog import Catalog
from pasarela.config.content import ChoiceSettings, PromptArgumentSettings, ResourceSettings
from pasarela.config.loader import LoadedConfig
from pasarela.content.model import (
    Choice,
    ContentCatalog,
    PromptEntry,
    ResourceEntry,
    TemplateEntry,
    ToolContent,
)
from pasarela.errors import ConfigProblem

MAX_FILE_BYTES = 1024 * 1024
JSON = "application/json"


def choice(settings: ChoiceSettings | PromptArgumentSettings) -> Choice:
    required = isinstance(settings, PromptArgumentSettings) and settings.required
    enum = tuple(settings.enum) if settings.enum is not None else None
    return Choice(settings.description, enum, tuple(settings.examples), required)


class _Declared:
    def __init__(self, config: LoadedConfig, catalog: Catalog) -> None:
        self.config = config
        self.catalog = catalog
        self.problems: list[ConfigProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.config.source, path, message))

    def read_file(self, value: str, path: str) -> str | None:
        """A file shipped with the configuration: relative to it and inside its directory."""
        base = self.config.base_dir.resolve()
        target = (base / Path(value).expanduser()).resolve()
        if not target.is_relative_to(base):
            self.problem(path, f"{value!r} is outside the configuration's directory ({base})")
            return None
        try:
            if target.stat().st_size > MAX_FILE_BYTES:
                self.problem(path, f"{value!r} is larger than {MAX_FILE_BYTES} bytes")
                return None
            return target.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.problem(path, f"no file {value!r} (relative to {base})")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(path, f"cannot read {value!r} as UTF-8 text: {type(exc).__name__}")
        return None

    def tool(self, settings: ResourceSettings, path: str, variables: list[str]) -> ToolContent | None:
        assert settings.tool is not None
        name = settings.tool.name
        if name not in self.catalog:
            self.problem(f"{path}.tool.name", f"{name!r} names no tool")
            return None
        spec = self.catalog.get(name)
        if not spec.annotations.read_only:
            self.problem(
                f"{path}.tool.name", f"{name!r} is not read-only: reading a resource changes nothing"
            )
            return None
        accepted = set(spec.input_schema.get("properties", {}))
        for variable in variables:
            if variable not in accepted:
                self.problem(f"{path}.uri_template", f"{{{variable}}} is not an argument of tool {name!r}")
        return ToolContent(name, dict(settings.tool.arguments))

    def resource(self, name: str, settings: ResourceSettings, into: ContentCatalog) -> None:
        path = f"resources.{name}"
        mime = settings.mime_type or (JSON if settings.tool is not None else "text/plain")
        if settings.uri_template is not None:
            try:
                template = UriTemplate.parse(settings.uri_template)
            except InvalidUriTemplate as exc:
                self.problem(f"{path}.uri_template", f"not a URI template: {exc}")
                return
            variables = template.variable_names
            for extra in sorted(set(settings.variables) - set(variables)):
                self.problem(f"{path}.variables.{extra}", f"the template has no {{{extra}}}")
            tool = self.tool(settings, path, variables)
            into.templates[name] = TemplateEntry(
                name,
                settings.uri_template,
                template,
                settings.title,
                settings.description,
                mime,
                tool=tool,
                variables={k: choice(v) for k, v in settings.variables.items()},
            )
            return
        assert settings.uri is not None
        if settings.uri in into.resources:
            self.problem(
                f"{path}.uri", f"{settings.uri!r} is also resource {into.resources[settings.uri].name!r}"
            )
            return
        text, tool = settings.text, None
        if settings.file is not None:
            text = self.read_file(settings.file, f"{path}.file")
        elif settings.tool is not None:
            tool = self.tool(settings, path, [])
        into.resources[settings.uri] = ResourceEntry(
            name, settings.uri, settings.title, settings.description, mime, text=text, tool=tool
        )


def declared_content(config: LoadedConfig, catalog: Catalog) -> tuple[ContentCatalog, list[ConfigProblem]]:
    declared = _Declared(config, catalog)
    content = ContentCatalog()
    for name, settings in config.settings.resources.items():
        declared.resource(name, settings, content)
    for name, prompt in config.settings.prompts.items():
        messages = []
        for index, message in enumerate(prompt.messages):
            text = message.text
            if message.file is not None:
                text = declared.read_file(message.file, f"prompts.{name}.messages[{index}].file")
            messages.append((message.role, text or ""))
        content.prompts[name] = PromptEntry(
            name,
            name,
            prompt.title,
            prompt.description,
            arguments={k: choice(v) for k, v in prompt.arguments.items()},
            messages=tuple(messages),
        )
    return content, declared.problems
