"""Settings of `graphql:` backends."""

from __future__ import annotations

from pydantic import Field

from pasarela.config.base import Strict


class GraphQLOperationSettings(Strict):
    """A named operation: one GraphQL document with variables, served as a tool."""

    document: str = Field(description="A query or mutation; its variables become the tool's arguments")
    description: str = ""
