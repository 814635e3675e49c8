"""An upstream MCP server's resources, resource templates and prompts, federated like its tools:
listed at load (every page), named with the backend's prefix, read and got on demand, their
completions relayed. URIs stay the upstream's own (its content refers to them); two backends
serving the same URI is a load error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import mcp_types as types
from mcp import Client
from mcp.shared.uri_template import InvalidUriTemplate, UriTemplate

from pasarela.connectors.upstream_mcp import UpstreamMcpConnector
from pasarela.content.model import Choice, PromptEntry, ResourceEntry, TemplateEntry

P = TypeVar("P")
MAX_ITEMS = 10_000  # per kind and backend: a server listing more is cut here, with a warning


async def _all_pages(fetch: Callable[[str | None], Awaitable[tuple[list[P], str | None]]]) -> list[P]:
    found: list[P] = []
    cursor: str | None = None
    while len(found) < MAX_ITEMS:
        page, cursor = await fetch(cursor)
        found.extend(page)
        if not cursor:
            break
    return found[:MAX_ITEMS]


class UpstreamContent:
    """What one upstream MCP backend serves besides tools."""

    def __init__(self, connector: UpstreamMcpConnector) -> None:
        self.connector = connector
        self.backend = connector.backend
        self.prefix = connector.prefix

    async def _capabilities(self) -> types.ServerCapabilities:
        async def read(client: Client) -> types.ServerCapabilities:
            return client.server_capabilities

        return await self.connector.request("its capabilities", read)

    async def load(self) -> tuple[list[ResourceEntry], list[TemplateEntry], list[PromptEntry], list[str]]:
        """Everything listed, and the problems found (a template that does not parse)."""
        capabilities = await self._capabilities()
        resources: list[ResourceEntry] = []
        templates: list[TemplateEntry] = []
        prompts: list[PromptEntry] = []
        problems: list[str] = []
        if capabilities.resources is not None:
            for resource in await self._list_resources():
                resources.append(
                    ResourceEntry(
                        f"{self.prefix}{resource.name}",
                        resource.uri,
                        resource.title,
                        resource.description,
                        resource.mime_type,
                        backend=self.backend,
                    )
                )
            for template in await self._list_templates():
                try:
                    parsed = UriTemplate.parse(template.uri_template)
                except InvalidUriTemplate as exc:
                    problems.append(f"resource template {template.name!r} is not a URI template: {exc}")
                    continue
                templates.append(
                    TemplateEntry(
                        f"{self.prefix}{template.name}",
                        template.uri_template,
                        parsed,
                        template.title,
                        template.description,
                        template.mime_type,
                        backend=self.backend,
                    )
                )
        if capabilities.prompts is not None:
            for prompt in await self._list_prompts():
                arguments = {
                    a.name: Choice(a.description, required=bool(a.required)) for a in prompt.arguments or ()
                }
                prompts.append(
                    PromptEntry(
                        f"{self.prefix}{prompt.name}",
                        prompt.name,
                        prompt.title,
                        prompt.description,
                        backend=self.backend,
                        arguments=arguments,
                    )
                )
        return resources, templates, prompts, problems

    async def _list_resources(self) -> list[types.Resource]:
        async def fetch(cursor: str | None) -> tuple[list[types.Resource], str | None]:
            async def run(client: Client) -> types.ListResourcesResult:
                return await client.list_resources(cursor=cursor, cache_mode="bypass")

            page = await self.connector.request("resources/list", run)
            return page.resources, page.next_cursor

        return await _all_pages(fetch)

    async def _list_templates(self) -> list[types.ResourceTemplate]:
        async def fetch(cursor: str | None) -> tuple[list[types.ResourceTemplate], str | None]:
            async def run(client: Client) -> types.ListResourceTemplatesResult:
                return await client.list_resource_templates(cursor=cursor, cache_mode="bypass")

            page = await self.connector.request("resources/templates/list", run)
            return page.resource_templates, page.next_cursor

        return await _all_pages(fetch)

    async def _list_prompts(self) -> list[types.Prompt]:
        async def fetch(cursor: str | None) -> tuple[list[types.Prompt], str | None]:
            async def run(client: Client) -> types.ListPromptsResult:
                return await client.list_prompts(cursor=cursor, cache_mode="bypass")

            page = await self.connector.request("prompts/list", run)
            return page.prompts, page.next_cursor

        return await _all_pages(fetch)

    async def read(self, uri: str) -> types.ReadResourceResult:
        async def run(client: Client) -> types.ReadResourceResult:
            return await client.read_resource(uri, cache_mode="bypass")

        return await self.connector.request(f"resources/read {uri}", run)

    async def get_prompt(self, origin: str, arguments: Mapping[str, str]) -> types.GetPromptResult:
        async def run(client: Client) -> types.GetPromptResult:
            return await client.get_prompt(origin, dict(arguments))

        return await self.connector.request(f"prompts/get {origin}", run)

    async def complete(
        self,
        ref: types.PromptReference | types.ResourceTemplateReference,
        name: str,
        value: str,
        context: Any,
    ) -> types.Completion:
        async def run(client: Client) -> types.CompleteResult:
            return await client.complete(ref, {"name": name, "value": value}, context)

        return (await self.connector.request("completion/complete", run)).completion
