"""prompts/list, prompts/get and completion/complete on the MCP door.

A declared prompt's messages have `{argument}` placeholders; its arguments' enums are enforced
and, with their examples, offered as completions. An upstream's prompts and completions are
relayed (secrets masked). What the caller may not get is not listed and answers as unknown."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from pasarela.assembly import Runtime
from pasarela.content.access import ContentAccess
from pasarela.content.loading import pin_name
from pasarela.content.model import PROMPT_KIND, RESOURCE_KIND, Choice, PromptEntry
from pasarela.errors import PasarelaError, ToolQuarantined
from pasarela.identity.principal import Principal
from pasarela.pipeline import Door
from pasarela.secrets import Redactor
from pasarela.server.mcp_calls import PrincipalResolver, mcp_request_id, protocol_error
from pasarela.server.mcp_event_resources import McpEventResources
from pasarela.server.mcp_pages import page

MAX_VALUE = 10_000  # characters in one prompt argument
MAX_COMPLETIONS = 100
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]{1,64})\}")


def unknown_prompt(name: str) -> MCPError:
    return MCPError(types.INVALID_PARAMS, f"Unknown prompt: {name[:100]}")


def render(text: str, values: Mapping[str, str]) -> str:
    """`{name}` replaced by the argument's value; other braces left as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def check_arguments(prompt: PromptEntry, given: Mapping[str, str]) -> None:
    """Declared prompts: no unknown argument, every required one, enums kept, values bounded."""
    for name, value in given.items():
        choice = prompt.arguments.get(name)
        if choice is None:
            raise MCPError(types.INVALID_PARAMS, f"prompt {prompt.name!r} has no argument {name[:64]!r}")
        if len(value) > MAX_VALUE:
            raise MCPError(types.INVALID_PARAMS, f"argument {name!r}: longer than {MAX_VALUE} characters")
        if choice.enum is not None and value not in choice.enum:
            raise MCPError(types.INVALID_PARAMS, f"argument {name!r}: expected one of {list(choice.enum)}")
    missing = [n for n, c in prompt.arguments.items() if c.required and n not in given]
    if missing:
        raise MCPError(types.INVALID_PARAMS, f"prompt {prompt.name!r} needs argument {missing[0]!r}")


def offered(choice: Choice | None, value: str) -> types.Completion:
    """A declared argument's enum or examples starting with what was typed (case-insensitive)."""
    values = [v for v in (choice.offered if choice else ()) if v.lower().startswith(value.lower())]
    return types.Completion(
        values=values[:MAX_COMPLETIONS], total=len(values), has_more=len(values) > MAX_COMPLETIONS
    )


class McpPrompts:
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

    def _visible(
        self, runtime: Runtime, principal: Principal, name: str
    ) -> tuple[PromptEntry, ContentAccess]:
        prompt = runtime.content.catalog.prompts.get(name)
        access = ContentAccess(runtime.authorizer, runtime.gateway, self.door)
        if (
            prompt is None
            or pin_name(PROMPT_KIND, prompt.name) in runtime.content.catalog.quarantined
            or not access.may(principal, PROMPT_KIND, prompt.name, prompt.backend)
        ):
            raise unknown_prompt(name)
        return prompt, access

    async def list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        principal = self.resolve_principal(ctx)
        runtime = self.runtime_of()
        access = ContentAccess(runtime.authorizer, runtime.gateway, self.door)
        catalog = runtime.content.catalog
        listed = [
            types.Prompt(
                name=p.name,
                title=p.title,
                description=p.description,
                arguments=[
                    types.PromptArgument(name=n, description=c.description, required=c.required)
                    for n, c in p.arguments.items()
                ],
            )
            for p in catalog.prompts.values()
            if pin_name(PROMPT_KIND, p.name) not in catalog.quarantined
            and access.may(principal, PROMPT_KIND, p.name, p.backend)
        ]
        items, cursor = page(listed, params.cursor if params else None)
        return types.ListPromptsResult(prompts=items, next_cursor=cursor, ttl_ms=0, cache_scope="private")

    async def get(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        principal = self.resolve_principal(ctx)
        runtime = self.runtime_of()
        request_id = mcp_request_id(ctx) or uuid.uuid4().hex
        given = dict(params.arguments or {})
        prompt = runtime.content.catalog.prompts.get(params.name)
        if prompt is None:
            raise unknown_prompt(params.name)
        access = ContentAccess(runtime.authorizer, runtime.gateway, self.door)
        decision = access.decide(principal, PROMPT_KIND, prompt.name, prompt.backend, given)

        def record(outcome: str) -> None:
            access.record(
                principal,
                PROMPT_KIND,
                prompt.name,
                given,
                request_id,
                decision=decision,
                outcome=outcome,
                backend=prompt.backend,
            )

        if not decision.allowed:
            record("denied")
            raise unknown_prompt(params.name)
        held = runtime.content.catalog.quarantined.get(pin_name(PROMPT_KIND, prompt.name))
        try:
            if held is not None:
                raise ToolQuarantined(held, tool=prompt.name)
            result = await self._messages(runtime, prompt, given)
        except MCPError:
            record("invalid_arguments")
            raise
        except PasarelaError as exc:
            record(exc.code)
            raise protocol_error(exc, self.redactor, request_id) from None
        record("ok")
        return result

    async def _messages(
        self, runtime: Runtime, prompt: PromptEntry, given: dict[str, str]
    ) -> types.GetPromptResult:
        if prompt.backend is None:
            check_arguments(prompt, given)
            messages = [
                types.PromptMessage(
                    role=role,
                    content=types.TextContent(type="text", text=self.redactor.redact(render(text, given))),
                )
                for role, text in prompt.messages
            ]
            return types.GetPromptResult(description=prompt.description, messages=messages)
        upstream = runtime.content.upstreams[prompt.backend]
        result = await upstream.get_prompt(prompt.origin, given)
        return types.GetPromptResult.model_validate_json(
            self.redactor.redact(result.model_dump_json(by_alias=True))
        )

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        principal = self.resolve_principal(ctx)
        runtime = self.runtime_of()
        argument, ref = params.argument, params.ref
        context = params.context.arguments if params.context else None
        try:
            if isinstance(ref, types.PromptReference):
                prompt, _ = self._visible(runtime, principal, ref.name)
                if prompt.backend is None:
                    return types.CompleteResult(
                        completion=offered(prompt.arguments.get(argument.name), argument.value)
                    )
                upstream = runtime.content.upstreams[prompt.backend]
                relayed = types.PromptReference(name=prompt.origin)
                completion = await upstream.complete(relayed, argument.name, argument.value, context)
                return types.CompleteResult(completion=self._masked(completion))
            if self.events.claims_template(ref.uri):
                return types.CompleteResult(
                    completion=self.events.complete(principal, ref.uri, argument.value)
                )
            catalog = runtime.content.catalog
            template = catalog.template_by_uri(ref.uri)
            access = ContentAccess(runtime.authorizer, runtime.gateway, self.door)
            if (
                template is None
                or pin_name(RESOURCE_KIND, template.name) in catalog.quarantined
                or not access.may(principal, RESOURCE_KIND, template.name, template.backend)
            ):
                raise MCPError(types.INVALID_PARAMS, f"Unknown resource template: {ref.uri[:200]}")
            if template.backend is None:
                return types.CompleteResult(
                    completion=offered(template.variables.get(argument.name), argument.value)
                )
            upstream = runtime.content.upstreams[template.backend]
            completion = await upstream.complete(ref, argument.name, argument.value, context)
            return types.CompleteResult(completion=self._masked(completion))
        except PasarelaError as exc:
            raise protocol_error(exc, self.redactor, mcp_request_id(ctx)) from None

    def _masked(self, completion: types.Completion) -> types.Completion:
        values = [self.redactor.redact(v) for v in completion.values[:MAX_COMPLETIONS]]
        return completion.model_copy(update={"values": values})
