"""The connector contract: load a backend's tools, invoke one operation.

A connector knows nothing about principals, policies, caches or limits. It receives
validated arguments and answers with data or an `UpstreamError` subclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pasarela.catalog.spec import ToolSpec


@dataclass(frozen=True, slots=True)
class UpstreamResult:
    data: Any
    status: int | None = None
    # What the agent should know about how the data came back (e.g. GraphQL partial data).
    meta: Mapping[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    backend: str

    async def load(self) -> list[ToolSpec]:
        """Every operation of the backend as a tool (before include/exclude/rename)."""
        ...

    async def invoke(
        self,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> UpstreamResult:
        """Run `tool.origin` with `arguments`; the timeouts override the backend's."""
        ...

    async def aclose(self) -> None: ...
