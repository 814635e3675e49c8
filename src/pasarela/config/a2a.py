"""Settings of `a2a:` backends that are theirs alone: how a task is followed, the card's health."""

from __future__ import annotations

from pydantic import Field

from pasarela.config.base import Strict
from pasarela.config.durations import Duration


class A2aHealthSettings(Strict):
    """Whether the agent still serves its card, asked when /readyz is."""

    enabled: bool = Field(True, description="Fetch the agent card for /readyz")
    timeout: Duration = Field(1.0, gt=0, description="How long one fetch may take")
    required: bool = Field(
        False,
        description="/readyz answers 503 while this agent does not serve its card (default: it is only reported)",
    )
