"""Known secrets never leave the gateway: masked in every result and error body.

A backend that echoes the credential the gateway sent it (an error page quoting the
request, a debug field) must not hand that credential to an agent.
"""

from __future__ import annotations

from dataclasses import replace

from pasarela.errors import PasarelaError
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.secrets import Redactor


class ScrubSecretsStage:
    name = "scrub_secrets"

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def traced(self, call: Call) -> bool:
        return False  # bookkeeping on the way out, not a step worth a span

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        try:
            outcome = await call_next(call)
        except PasarelaError as exc:
            exc.extra = self.redactor.scrub(exc.extra)
            exc.detail = self.redactor.redact(exc.detail)
            raise
        return replace(outcome, result=self.redactor.scrub(outcome.result))
