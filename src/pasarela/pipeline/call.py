"""What flows through the pipeline: a Call in, an Outcome out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pasarela.catalog.spec import ToolSpec
from pasarela.identity.principal import Principal


@dataclass(frozen=True, slots=True)
class Call:
    """One tool call by one principal through one door."""

    principal: Principal
    tool: ToolSpec
    arguments: Mapping[str, Any]
    door: str
    request_id: str
    # Stripe-style: the client's key for this write; retries with the same key replay its outcome.
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A successful result and what the gateway knows about how it was obtained."""

    result: Any
    meta: Mapping[str, Any] = field(default_factory=dict)

    def with_meta(self, **entries: Any) -> Outcome:
        return replace(self, meta={**self.meta, **entries})


Next = Callable[[Call], Awaitable[Outcome]]


class Stage(Protocol):
    """One step of the pipeline. It may act before and after `call_next`, or not call it."""

    async def __call__(self, call: Call, call_next: Next) -> Outcome: ...
