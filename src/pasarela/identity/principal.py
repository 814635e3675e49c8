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

    def to_json(self) -> dict[str, Any]:
        """A plain form that can be stored (a job's owner) and restored with `from_json`."""
        return {
            "id": self.id,
            "roles": sorted(self.roles),
            "attributes": dict(self.attributes),
            "kind": self.kind,
            "on_behalf_of": self.on_behalf_of.to_json() if self.on_behalf_of is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Principal:
        """The principal `to_json` stored; a malformed form is a ValueError naming the field."""
        if not isinstance(data, Mapping):
            raise ValueError("a stored principal must be an object")
        ident, roles, attributes, kind = (data.get(k) for k in ("id", "roles", "attributes", "kind"))
        if not isinstance(ident, str) or not ident:
            raise ValueError("a stored principal needs an id (a non-empty string)")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ValueError(f"principal {ident!r}: roles must be a list of strings")
        if not isinstance(attributes, Mapping):
            raise ValueError(f"principal {ident!r}: attributes must be an object")
        if not isinstance(kind, str):
            raise ValueError(f"principal {ident!r}: kind must be a string")
        user = data.get("on_behalf_of")
        return cls(
            id=ident,
            roles=frozenset(roles),
            attributes=dict(attributes),
            kind=kind,
            on_behalf_of=cls.from_json(user) if user is not None else None,
        )
