"""resources/list, resources/templates/list and resources/read on the MCP door.

A resource's content is declared text or a file, a read-only tool's result (a call through the
whole pipeline, as the reader: its policies, masking, cache and audit apply), or what the
upstream MCP server serves (secrets masked). What the reader may not read is not listed, and
reading it is answered as for a URI that names nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from pasarela import jsonsafe
from pasarela.assembly import Runtime
from pasarela.content.access import ContentAccess
from pasarela.content.loading import pin_name
from pasarela.content.model import RESOURCE_KIND, Found
from pasarela.errors import PasarelaError, ToolQuarantined
from pasarela.identity.principal import Principal
from pasarela.pipeline import Door
from pasarela.secrets import Redactor
from pasarela.server.mcp_calls import PrincipalResolver, mcp_request_id, protocol_error
from pasarela.server.mcp_event_resources import McpEventResources
from pasarela.server.mcp_pages import page

JSON = "application/json"


def not_found(uri: str) -> MCPError:
    return MCPError(types.INVALID_PARAMS, f"Resource not found: {uri[:200]}")


class McpResources:
    def __init__(
        self,
        runtime_of: Callable[[], Runtime],
        redactor: Redactor,
        resolve_principal: PrincipalResolver,
        events: McpEventResources,
        door: Door,
    ) -> None:
        self.runtime_of = runtime_of
        self.redactor = redactor
        self.resolve_principal = resolve_principal
        self.events = events
        self.door = door

    def _access(self, runtime: Runtime) -> ContentAccess:
        return ContentAccess(runtime.authorizer, runtime.gateway, self.door)

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        principal = self.resolve_principal(ctx)
        runtime = self.runtime_of()
        access = self._access(runtime)
        listed = [
            types.Resource(
                name=r.name, uri=r.uri, title=r.title, description=r.description, mime_type=r.mime_type
            )
            for r in runtime.content.catalog.resources.values()
            if access.may(principal, RESOURCE_KIND, r.name, r.backend)
        ]
        listed += self.events.resources(principal)
        items, cursor = page(listed, params.cursor if params else None)
        return types.ListResourcesResult(resources=items, next_cursor=cursor, ttl_ms=0, cache_scope="private")

    async def list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        principal = self.resolve_principal(ctx)
        runtime = self.runtime_of()
        access = self._access(runtime)
        catalog = runtime.content.catalog
        listed = [
            types.ResourceTemplate(
                name=t.name,
                uri_template=t.uri_template,
                title=t.title,
                description=t.description,
                mime_type=t.mime_type,
            )
            for t in catalog.templates.values()
            if pin_name(RESOURCE_KIND, t.name) not in catalog.quarantined
            and access.may(principal, RESOURCE_KIND, t.name, t.backend)
        ]
        listed += self.events.templates(principal)
        items, cursor = page(listed, params.cursor if params else None)
        return types.ListResourceTemplatesResult(
            resource_templates=items, next_cursor=cursor, ttl_ms=0, cache_scope="private"
        )

    async def read(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        principal = self.resolve_principal(ctx)
        uri = params.uri
        request_id = mcp_request_id(ctx) or uuid.uuid4().hex
        if self.events.claims(uri):
            return await self.events.read(principal, uri, request_id)
        runtime = self.runtime_of()
        found = runtime.content.catalog.find(uri)
        if found is None:
            raise not_found(uri)
        access = self._access(runtime)
        arguments: dict[str, Any] = {**found.variables, "uri": uri} if found.template else {"uri": uri}
        decision = access.decide(principal, RESOURCE_KIND, found.name, found.backend, found.variables)

        def record(outcome: str) -> None:
            access.record(
                principal,
                RESOURCE_KIND,
                found.name,
                arguments,
                request_id,
                decision=decision,
                outcome=outcome,
                backend=found.backend,
            )

        if not decision.allowed:
            record("denied")
            raise not_found(uri)  # what may not be read is not there for this reader
        held = runtime.content.catalog.quarantined.get(pin_name(RESOURCE_KIND, found.name))
        try:
            if held is not None and found.template is not None:
                raise ToolQuarantined(held, tool=found.name)
            contents = await self._contents(runtime, principal, found, uri, request_id)
        except PasarelaError as exc:
            record(exc.code)
            raise protocol_error(exc, self.redactor, request_id) from None
        record("ok")
        return types.ReadResourceResult(contents=contents, ttl_ms=0, cache_scope="private")

    async def _contents(
        self, runtime: Runtime, principal: Principal, found: Found, uri: str, request_id: str
    ) -> list[types.TextResourceContents | types.BlobResourceContents]:
        entry = found.resource or found.template
        assert entry is not None
        if entry.tool is not None:
            fixed: Mapping[str, Any] = entry.tool.arguments
            outcome = await runtime.gateway.call(
                principal,
                entry.tool.tool,
                {**fixed, **found.variables},
                door=self.door,
                request_id=request_id,
            )
            text = jsonsafe.dumps(outcome.result).decode()
            return [types.TextResourceContents(uri=uri, mime_type=entry.mime_type or JSON, text=text)]
        if found.resource is not None and found.resource.text is not None:
            text = self.redactor.redact(found.resource.text)
            return [types.TextResourceContents(uri=uri, mime_type=entry.mime_type, text=text)]
        upstream = runtime.content.upstreams.get(found.backend or "")
        if upstream is None:
            raise not_found(uri)
        result = await upstream.read(uri)
        return [
            c.model_copy(update={"text": self.redactor.redact(c.text)})
            if isinstance(c, types.TextResourceContents)
            else c
            for c in result.contents
        ]
