"""Authorization: deny by default. The role allowlist from `access:` is the first Authorizer;
the Cedar policy engine replaces it behind the same protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from pasarela.catalog.spec import ToolSpec
from pasarela.errors import AccessDenied
from pasarela.identity.principal import Principal
from pasarela.pipeline.call import Call, Next, Outcome

ALL_TOOLS = "*"


class Authorizer(Protocol):
    def may_list(self, principal: Principal, tool: ToolSpec) -> bool: ...

    def may_call(self, call: Call) -> bool: ...


class RoleAllowlist:
    """`access: {role: [tool, …]}`; a principal may use a tool if any of its roles lists it."""

    def __init__(self, access: Mapping[str, Sequence[str]]) -> None:
        self._tools_by_role = {role: frozenset(tools) for role, tools in access.items()}

    def may_list(self, principal: Principal, tool: ToolSpec) -> bool:
        for role in principal.roles:
            allowed = self._tools_by_role.get(role)
            if allowed is not None and (tool.name in allowed or ALL_TOOLS in allowed):
                return True
        return False

    def may_call(self, call: Call) -> bool:
        return self.may_list(call.principal, call.tool)


class AuthorizeStage:
    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        if not self.authorizer.may_call(call):
            raise AccessDenied(
                f"principal {call.principal.id!r} may not call tool {call.tool.name!r}", tool=call.tool.name
            )
        return await call_next(call)
