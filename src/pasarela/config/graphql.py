"""Settings of `graphql:` backends."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GraphQLOperationSettings(_Strict):
    """A named operation: one GraphQL document with variables, served as a tool."""

    document: str = Field(description="A query or mutation; its variables become the tool's arguments")
    description: str = ""
