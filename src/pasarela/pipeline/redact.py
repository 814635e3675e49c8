"""The redaction stage: mask configured fields in results unless policy permits `unmask`.

Masking is the default; seeing real values is a permission like any other
(`permit(principal in Role::"compliance", action == Action::"unmask", resource);`). Error
bodies from the backend go through the same rules, since they often echo the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from pasarela.errors import UpstreamError
from pasarela.pipeline.authorize import Authorizer
from pasarela.pipeline.call import Call, Next, Outcome
from pasarela.protection import MaskingRule

UNMASK = "unmask"


class RedactStage:
    name = "redact"

    def __init__(self, rules: Mapping[str, MaskingRule], authorizer: Authorizer) -> None:
        self.rules = dict(rules)
        self.authorizer = authorizer

    def traced(self, call: Call) -> bool:
        return call.tool.name in self.rules

    async def __call__(self, call: Call, call_next: Next) -> Outcome:
        rule = self.rules.get(call.tool.name)
        if rule is None:
            return await call_next(call)
        try:
            outcome = await call_next(call)
        except UpstreamError as exc:
            if "upstream_body" in exc.extra and not self._unmasked(call):
                masked, _ = rule.apply(exc.extra["upstream_body"])
                raise exc.with_extra(upstream_body=masked) from exc.__cause__
            raise
        if self._unmasked(call):
            return outcome.with_meta(redacted=0)
        result, count = rule.apply(outcome.result)
        return replace(outcome, result=result, meta={**outcome.meta, "redacted": count})

    def _unmasked(self, call: Call) -> bool:
        return self.authorizer.decide(call, UNMASK).allowed
