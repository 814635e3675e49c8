"""What the MCP door serves besides tools: resources, resource templates and prompts, declared in
pasarela.yaml or federated from upstream MCP servers. Built once per configuration.

In Cedar a resource or a template is `Resource::"<name>"` and a prompt `Prompt::"<name>"`, in
`Backend::"<backend>"` when federated; the actions are `Action::"read_resource"` and
`Action::"get_prompt"` (listing asks the same question: what may not be read is not listed)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp.shared.uri_template import UriTemplate

READ_RESOURCE, GET_PROMPT = "read_resource", "get_prompt"
RESOURCE_KIND, PROMPT_KIND = "Resource", "Prompt"


@dataclass(frozen=True, slots=True)
class Choice:
    """What an argument or template variable accepts (completions offer enum, then examples)."""

    description: str | None = None
    enum: tuple[str, ...] | None = None
    examples: tuple[str, ...] = ()
    required: bool = False

    @property
    def offered(self) -> tuple[str, ...]:
        return self.enum if self.enum is not None else self.examples


@dataclass(frozen=True, slots=True)
class ToolContent:
    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResourceEntry:
    name: str  # Cedar's Resource id: the declared key, or the upstream's name with the prefix
    uri: str
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    backend: str | None = None  # the upstream MCP backend; None when declared
    text: str | None = None  # declared text or file
    tool: ToolContent | None = None


@dataclass(frozen=True, slots=True)
class TemplateEntry:
    name: str
    uri_template: str
    template: UriTemplate
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    backend: str | None = None
    tool: ToolContent | None = None
    variables: Mapping[str, Choice] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PromptEntry:
    name: str
    origin: str  # the name the upstream server gives it (the declared name when declared)
    title: str | None = None
    description: str | None = None
    backend: str | None = None
    arguments: Mapping[str, Choice] = field(default_factory=dict)
    messages: tuple[tuple[str, str], ...] = ()  # (role, text with {argument} placeholders)


@dataclass(frozen=True, slots=True)
class Found:
    """What a URI names: a resource, or a template with the variables the URI gives it."""

    name: str
    backend: str | None
    resource: ResourceEntry | None = None
    template: TemplateEntry | None = None
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ContentCatalog:
    resources: dict[str, ResourceEntry] = field(default_factory=dict)  # by URI
    templates: dict[str, TemplateEntry] = field(default_factory=dict)  # by name
    prompts: dict[str, PromptEntry] = field(default_factory=dict)  # by name
    quarantined: dict[str, str] = field(default_factory=dict)  # pin name → why

    def find(self, uri: str) -> Found | None:
        resource = self.resources.get(uri)
        if resource is not None:
            return Found(resource.name, resource.backend, resource=resource)
        for entry in self.templates.values():
            matched = entry.template.match(uri)
            if matched is not None and all(isinstance(v, str) for v in matched.values()):
                values = {k: v for k, v in matched.items() if isinstance(v, str)}
                return Found(entry.name, entry.backend, template=entry, variables=values)
        return None

    def template_by_uri(self, uri_template: str) -> TemplateEntry | None:
        return next((t for t in self.templates.values() if t.uri_template == uri_template), None)

    def names(self) -> Iterator[tuple[str, str, str | None]]:
        """(Cedar kind, name, backend) of everything served."""
        for resource in self.resources.values():
            yield RESOURCE_KIND, resource.name, resource.backend
        for template in self.templates.values():
            yield RESOURCE_KIND, template.name, template.backend
        for prompt in self.prompts.values():
            yield PROMPT_KIND, prompt.name, prompt.backend

    def entities(self) -> list[dict[str, Any]]:
        """Cedar entities: what policies may read of each (its name and backend)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for kind, name, backend in self.names():
            attrs: dict[str, Any] = {"name": name, "backend": backend or ""}
            parents = [{"type": "Backend", "id": backend}] if backend else []
            found[(kind, name)] = {"uid": {"type": kind, "id": name}, "attrs": attrs, "parents": parents}
        backends = {backend for _, _, backend in self.names() if backend}
        for backend in backends:
            found[("Backend", backend)] = {
                "uid": {"type": "Backend", "id": backend},
                "attrs": {},
                "parents": [],
            }
        return list(found.values())
