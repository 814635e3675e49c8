"""The entity graph: agents in roles, tools in backends. Built once per configuration."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import cedarpy
import orjson

from pasarela.catalog.spec import ToolSpec
from pasarela.identity.principal import Principal
from pasarela.policy.sources import granted_roles
from pasarela.policy.values import cedar_value

ADDED_ENTRIES = 10_000  # principals added at run time whose entities are kept


def uid(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "id": name}


def agent_entities(principal: Principal) -> list[dict[str, Any]]:
    attrs = {k: v for k, v in ((k, cedar_value(v)) for k, v in principal.attributes.items()) if v is not None}
    attrs["id"] = principal.id
    attrs["kind"] = principal.kind
    attrs["roles"] = sorted(principal.roles)  # matched against a tool's granted_to by the access policy
    return [
        {
            "uid": uid("Agent", principal.id),
            "attrs": attrs,
            "parents": [uid("Role", r) for r in sorted(principal.roles)],
        },
        *({"uid": uid("Role", r), "attrs": {}, "parents": []} for r in sorted(principal.roles)),
    ]


def tool_entity(tool: ToolSpec, granted_to: Sequence[str]) -> dict[str, Any]:
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
            "granted_to": list(granted_to),  # the roles `access:` grants this tool to
        },
        "parents": [uid("Backend", tool.backend)],
    }


class EntityStore:
    """Cedar entities parsed once; a principal unknown at load time is added per request."""

    def __init__(
        self,
        principals: Iterable[Principal],
        tools: Iterable[ToolSpec],
        access: Mapping[str, Sequence[str]],
        event_types: Iterable[str] = (),
        content: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        documents: dict[str, dict[str, Any]] = {}
        for entity in content:  # MCP resources and prompts, and the backends they are in
            documents[json.dumps(entity["uid"])] = dict(entity)
        for name in event_types:  # what policies may read of an event type: its name
            entity = {"uid": uid("EventType", name), "attrs": {"name": name}, "parents": []}
            documents[json.dumps(entity["uid"])] = entity
        backends: set[str] = set()
        self.granted: dict[str, frozenset[str]] = {}
        for tool in tools:
            roles = granted_roles(access, tool.name)
            self.granted[tool.name] = frozenset(roles)
            entity = tool_entity(tool, roles)
            documents[json.dumps(entity["uid"])] = entity
            backends.add(tool.backend)
        for backend in backends:
            documents[json.dumps(uid("Backend", backend))] = {
                "uid": uid("Backend", backend),
                "attrs": {},
                "parents": [],
            }
        self._known: dict[str, Principal] = {}
        for principal in principals:
            self._known[principal.id] = principal
            for entity in agent_entities(principal):
                documents[json.dumps(entity["uid"])] = entity
        self._documents = documents
        self.entities = cedarpy.Entities.from_json_str(json.dumps(list(documents.values())))
        self._role_uids = {key for key in documents if '"Role"' in key}
        # Principals not configured up front (JWT subjects), with their entities parsed once.
        self._added: dict[bytes, cedarpy.Entities] = {}

    def for_principal(self, principal: Principal) -> cedarpy.Entities:
        if principal.on_behalf_of is not None:
            principal = replace(principal, on_behalf_of=None)  # the user travels in the context
        known = self._known.get(principal.id)
        if known is principal or known == principal:
            return self.entities
        key = principal_key(principal)
        added = self._added.get(key)
        if added is None:
            if known is not None:
                # Same id as a configured principal (e.g. a JWT subject named like an API key's
                # principal) but other roles or attributes: its own entity replaces the configured one.
                documents = dict(self._documents)
                documents.update((json.dumps(e["uid"]), e) for e in agent_entities(principal))
                added = cedarpy.Entities.from_json_str(json.dumps(list(documents.values())))
            else:
                # Not configured up front (e.g. a JWT subject): add it, and any roles not yet known.
                fresh = [e for e in agent_entities(principal) if json.dumps(e["uid"]) not in self._role_uids]
                added = self.entities.with_added_json_str(json.dumps(fresh))
            if len(self._added) >= ADDED_ENTRIES:
                self._added.clear()
            self._added[key] = added
        return added


def principal_key(principal: Principal) -> bytes:
    """Everything of a principal its Cedar entities are built from (not the user it acts for,
    who travels in the context)."""
    return orjson.dumps(
        [principal.id, principal.kind, sorted(principal.roles), principal.attributes],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
