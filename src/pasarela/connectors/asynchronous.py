"""Backends that answer `202 Accepted` and a status URL: what to follow, compiled once.

Each expression is JMESPath over `{status, headers, body}` of an HTTP answer (header names in
lower case), so one plan reads any backend's shape: a `Location` header or a URL in the body,
`state == 'done'` or `finished: true`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath.parser import ParsedResult

from pasarela.config.jobs import FollowSettings


@dataclass(frozen=True, slots=True)
class FollowPlan:
    status_url: ParsedResult
    done: ParsedResult
    failed: ParsedResult | None
    result: ParsedResult
    result_url: ParsedResult | None
    progress: ParsedResult | None
    message: ParsedResult | None
    interval: float

    @classmethod
    def compile(cls, settings: FollowSettings) -> FollowPlan:
        def optional(text: str | None) -> ParsedResult | None:
            return jmespath.compile(text) if text is not None else None

        return cls(
            status_url=jmespath.compile(settings.status_url),
            done=jmespath.compile(settings.done),
            failed=optional(settings.failed),
            result=jmespath.compile(settings.result),
            result_url=optional(settings.result_url),
            progress=optional(settings.progress),
            message=optional(settings.message),
            interval=settings.interval,
        )


def answer_view(status: int, headers: Mapping[str, str], body: Any) -> dict[str, Any]:
    """What the expressions read of one answer."""
    return {"status": status, "headers": {k.lower(): v for k, v in headers.items()}, "body": body}


def truthy(value: Any) -> bool:
    """JMESPath's own truth: false, null, "", [] and {} are false."""
    return not (value is None or value is False or value in ("", [], {}))
