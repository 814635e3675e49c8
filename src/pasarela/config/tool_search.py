"""`tool_search:`: agents with large catalogs discover tools by searching instead of listing."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from pasarela.config.base import NAME, Strict


class ToolSearchSettings(Strict):
    """Principals in discovery mode see `search_tools` and `call_tool` (and `always_visible`)
    instead of every tool they may call; every call still goes through the whole pipeline."""

    roles: list[str] = Field([], description="Principals with any of these roles are in discovery mode")
    principals: list[str] = Field([], description="... and these principals, by id")
    always_visible: list[Annotated[str, Field(pattern=NAME)]] = Field(
        [], description="Tools listed beside search_tools and call_tool (to those who may call them)"
    )
    default_limit: int = Field(5, ge=1, le=50, description="Tools a search returns when it does not say")
    max_limit: int = Field(20, ge=1, le=100, description="The most tools one search may return")

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if self.default_limit > self.max_limit:
            raise ValueError(f"default_limit ({self.default_limit}) exceeds max_limit ({self.max_limit})")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.roles or self.principals)
