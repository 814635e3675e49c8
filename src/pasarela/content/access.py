"""Resources and prompts governed like tools: Cedar decides `Action::"read_resource"` on
`Resource::"<name>"` and `Action::"get_prompt"` on `Prompt::"<name>"` (deny by default; what may
not be read is not listed either), and every read or get lands in the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pasarela.audit.stage import AuditStage
from pasarela.content.model import PROMPT_KIND
from pasarela.identity.principal import Principal
from pasarela.pipeline.authorize import Decision
from pasarela.pipeline.gateway import Gateway
from pasarela.policy import CedarAuthorizer
from pasarela.policy.scopes import Resource


def cedar_resource(kind: str, name: str, backend: str | None) -> Resource:
    return Resource(kind, name, (("Backend", backend),) if backend else ())


class ContentAccess:
    def __init__(self, authorizer: CedarAuthorizer, gateway: Gateway, door: str) -> None:
        self.authorizer = authorizer
        self.door = door
        self.audit = next((s for s in gateway.stages if isinstance(s, AuditStage)), None)

    def decide(
        self, principal: Principal, kind: str, name: str, backend: str | None, arguments: Mapping[str, Any]
    ) -> Decision:
        action = "get_prompt" if kind == PROMPT_KIND else "read_resource"
        return self.authorizer.decide_on(
            principal, cedar_resource(kind, name, backend), action, arguments, door=self.door
        )

    def may(self, principal: Principal, kind: str, name: str, backend: str | None) -> bool:
        """Listing: may `principal` read (or get) it at all (with no arguments yet)?"""
        return self.decide(principal, kind, name, backend, {}).allowed

    def record(
        self,
        principal: Principal,
        kind: str,
        name: str,
        arguments: Mapping[str, Any],
        request_id: str,
        *,
        decision: Decision,
        outcome: str,
        backend: str | None,
    ) -> None:
        if self.audit is None:
            return
        subject = f"{'prompt' if kind == PROMPT_KIND else 'resource'}:{name}"
        self.audit.access(
            principal,
            subject,
            arguments,
            self.door,
            request_id,
            decision=decision,
            outcome=outcome,
            backend=backend,
        )
