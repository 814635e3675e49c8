"""Authorization: the Authorizer protocol, its Decision, and the stage that enforces it.

Deny by default. The Cedar policy engine (`pasarela.policy`) is the Authorizer the gateway
wires; anything with the same two methods can stand in (tests, a future remote PDP).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import structlog

from pasarela.catalog.spec import ToolSpec
from pasarela.errors import AccessDenied
from pasarela.identity.principal import Principal
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.pipeline.notes import note

log = structlog.get_logger("pasarela.authorize")


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """A policy that took part in a decision, as people find it."""

    label: str  # its @id, or <source>#<n>
    effect: str  # permit | forbid
    source: str  # the config key or file it came from
    reason: str | None = None  # its @reason annotation


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    policies: tuple[PolicyRef, ...] = ()  # the deciding policies; empty when nothing permits
    errors: tuple[str, ...] = ()
    shadow: Decision | None = None  # what enforcing the log_only policies too would decide

    @property
    def reasons(self) -> list[str]:
        return [p.reason for p in self.policies if p.reason]


class Authorizer(Protocol):
    def decide(self, call: Call, action: str = "call") -> Decision: ...

    def visible(self, principal: Principal, tools: Iterable[ToolSpec], door: str) -> list[ToolSpec]: ...


class AuthorizeStage:
    name = "authorize"

    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        decision = self.authorizer.decide(call)
        note("decision", decision)
        if not decision.allowed:
            forbids = [p.label for p in decision.policies if p.effect == "forbid"]
            log.info(
                "call_denied",
                request_id=call.request_id,
                principal=call.principal.id,
                tool=call.tool.name,
                policies=forbids or ["(no permit)"],
            )
            because = "; ".join(decision.reasons)
            detail = f"principal {call.principal.id!r} may not call tool {call.tool.name!r}"
            raise AccessDenied(detail + (f": {because}" if because else ""), tool=call.tool.name)
        return await call_next(call)
