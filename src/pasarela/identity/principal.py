"""Who is calling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an agent, with roles and attributes for policy."""

    id: str
    roles: frozenset[str] = frozenset()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "agent"
    # The end user the agent acts for, verified from their own token (never just asserted).
    on_behalf_of: Principal | None = None
