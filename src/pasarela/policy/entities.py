"""The entity graph: agents in roles, tools in backends. Built once per configuration."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import cedarpy

from pasarela.catalog.spec import ToolSpec
from pasarela.identity.principal import Principal
from pasarela.policy.values import cedar_value


def uid(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "id": name}


def agent_entities(principal: Principal) -> list[dict[str, Any]]:
    attrs = {k: v for k, v in ((k, cedar_value(v)) for k, v in principal.attributes.items()) if v is not None}
    attrs["id"] = principal.id
    attrs["kind"] = principal.kind
    return [
        {"uid": uid("Agent", principal.id), "attrs": attrs, "parents": [uid("Role", r) for r in sorted(principal.roles)]},
        *({"uid": uid("Role", r), "attrs": {}, "parents": []} for r in sorted(principal.roles)),
    ]


def tool_entity(tool: ToolSpec) -> dict[str, Any]:
    a = tool.annotations
    return {
        "uid": uid("Tool", tool.name),
        "attrs": {
            "name": tool.name,
            "backend": tool.backend,
            "read_only": a.read_only,
            "destructive": a.destructive,
            "idempotent": a.idempotent,
            "tags": list(tool.tags),
        },
        "parents": [uid("Backend", tool.backend)],
    }


class EntityStore:
    """Cedar entities parsed once; a principal unknown at load time is added per request."""

    def __init__(self, principals: Iterable[Principal], tools: Iterable[ToolSpec]) -> None:
        documents: dict[str, dict[str, Any]] = {}
        backends: set[str] = set()
        for tool in tools:
            documents[json.dumps(tool_entity(tool)["uid"])] = tool_entity(tool)
            backends.add(tool.backend)
        for backend in backends:
            documents[json.dumps(uid("Backend", backend))] = {"uid": uid("Backend", backend), "attrs": {}, "parents": []}
        self._known: dict[str, Principal] = {}
        for principal in principals:
            self._known[principal.id] = principal
            for entity in agent_entities(principal):
                documents[json.dumps(entity["uid"])] = entity
        self.entities = cedarpy.Entities.from_json_str(json.dumps(list(documents.values())))
        self._role_uids = {key for key in documents if '"Role"' in key}

    def for_principal(self, principal: Principal) -> cedarpy.Entities:
        if self._known.get(principal.id) == principal:
            return self.entities
        # Not configured up front (e.g. a JWT subject): add it, and any roles not yet known.
        fresh = [e for e in agent_entities(principal) if json.dumps(e["uid"]) not in self._role_uids]
        return self.entities.with_added_json_str(json.dumps(fresh))
