"""Build the content catalog of one configuration: declared resources and prompts, and those of
every upstream MCP backend — whose prompts and resource templates are pinned like tools. A prompt
or template its server changed is held (not listed, not served) until an operator approves it:
`pasarela tools diff prompt:NAME` / `pasarela tools approve prompt:NAME` (`template:NAME`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pasarela import jsonsafe
from pasarela.catalog import Catalog
from pasarela.catalog.pinning import Pinnable, ToolPins
from pasarela.config.loader import LoadedConfig
from pasarela.connectors.base import Connector
from pasarela.connectors.upstream_mcp import UpstreamMcpConnector
from pasarela.connectors.upstream_mcp_content import UpstreamContent
from pasarela.content.declared import declared_content
from pasarela.content.model import PROMPT_KIND, RESOURCE_KIND, ContentCatalog, PromptEntry, TemplateEntry
from pasarela.errors import ConfigError, ConfigProblem, PasarelaError

MAX_PIN_NAME = 64  # the pins table's name column


@dataclass(frozen=True, slots=True)
class ServedContent:
    """One configuration's resources and prompts, and the upstreams that serve some of them."""

    catalog: ContentCatalog = field(default_factory=ContentCatalog)
    upstreams: Mapping[str, UpstreamContent] = field(default_factory=dict)


def pin_name(kind: str, name: str) -> str:
    return f"prompt:{name}" if kind == PROMPT_KIND else f"template:{name}"


def _prompt_form(prompt: PromptEntry) -> dict[str, Any]:
    return {
        "kind": "prompt",
        "backend": prompt.backend,
        "origin": prompt.origin,
        "title": prompt.title,
        "description": prompt.description,
        "arguments": [
            {"name": name, "description": c.description, "required": c.required}
            for name, c in prompt.arguments.items()
        ],
    }


def _template_form(template: TemplateEntry) -> dict[str, Any]:
    return {
        "kind": "resource_template",
        "backend": template.backend,
        "uriTemplate": template.uri_template,
        "title": template.title,
        "description": template.description,
        "mimeType": template.mime_type,
    }


def _canonical(form: dict[str, Any]) -> str:
    return jsonsafe.dumps(form, sort_keys=True, indent=True).decode()


class _Merger:
    def __init__(self, config: LoadedConfig, content: ContentCatalog) -> None:
        self.config = config
        self.content = content
        self.problems: list[ConfigProblem] = []

    def add(
        self, backend: str, found: tuple[list[Any], list[TemplateEntry], list[PromptEntry], list[str]]
    ) -> None:
        resources, templates, prompts, problems = found
        path = f"backends.{backend}.mcp"
        self.problems += [ConfigProblem(self.config.source, path, p) for p in problems]
        content = self.content
        taken = {r.name for r in content.resources.values()} | set(content.templates)
        for resource in resources:
            other = content.resources.get(resource.uri)
            if other is not None:
                self.clash(
                    path, f"resource URI {resource.uri!r} is also served by {other.backend or 'resources:'}"
                )
                continue
            if resource.name in content.templates:
                self.clash(path, f"resource name {resource.name!r} is taken")
                continue
            content.resources[resource.uri] = resource
        for template in templates:
            if template.name in taken or template.name in content.templates:
                self.clash(path, f"resource template name {template.name!r} is taken")
                continue
            content.templates[template.name] = template
        for prompt in prompts:
            if prompt.name in content.prompts:
                self.clash(path, f"prompt name {prompt.name!r} is taken")
                continue
            content.prompts[prompt.name] = prompt

    def clash(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.config.source, path, message + " (set a different `prefix`)"))


async def load_content(
    config: LoadedConfig,
    catalog: Catalog,
    connectors: Mapping[str, Connector],
    pins: ToolPins,
    *,
    write: bool = True,
) -> tuple[ServedContent, list[ConfigProblem]]:
    content, problems = declared_content(config, catalog)
    merger = _Merger(config, content)
    upstreams: dict[str, UpstreamContent] = {}
    for name, connector in connectors.items():
        if not isinstance(connector, UpstreamMcpConnector):
            continue
        upstream = UpstreamContent(connector)
        try:
            merger.add(name, await upstream.load())
        except ConfigError as exc:
            problems += exc.problems
            continue
        except PasarelaError as exc:
            problems.append(
                ConfigProblem(
                    config.source,
                    f"backends.{name}.mcp",
                    f"cannot list its resources and prompts: {exc.detail}",
                )
            )
            continue
        upstreams[name] = upstream
    problems += merger.problems
    forms: list[Pinnable] = []
    for prompt in content.prompts.values():
        if prompt.backend is not None:
            forms.append(
                Pinnable(
                    pin_name(PROMPT_KIND, prompt.name),
                    prompt.backend,
                    _canonical(_prompt_form(prompt)),
                    "prompt",
                )
            )
    for template in content.templates.values():
        if template.backend is not None:
            forms.append(
                Pinnable(
                    pin_name(RESOURCE_KIND, template.name),
                    template.backend,
                    _canonical(_template_form(template)),
                    "resource template",
                )
            )
    too_long = [f for f in forms if len(f.name) > MAX_PIN_NAME]
    for form in too_long:
        problems.append(
            ConfigProblem(
                config.source,
                f"backends.{form.backend}.prefix",
                f"{form.label} name {form.name!r} is longer than {MAX_PIN_NAME} characters: use a shorter prefix",
            )
        )
    if problems:
        return ServedContent(content, upstreams), problems
    auto_approve = {n for n, b in config.settings.backends.items() if b.auto_approve_changes}
    held = await pins.reconcile_forms(forms, auto_approve, write=write)
    content.quarantined = {name: q.message for name, q in held.items()}
    return ServedContent(content, upstreams), problems
