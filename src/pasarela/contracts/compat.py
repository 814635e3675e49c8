"""What changed between two versions of a JSON Schema, and whom the change breaks.

For an output schema there are two sides: **backends** produce results (a result that was
valid may now fail: a new required property, a narrowed type, fewer enum values, no more
additional properties) and **agents** consume them (what they relied on may be gone: a
property removed or no longer required, a widened type, new enum values). The comparison
covers the keywords that shape data — type, properties, required, enum,
additionalProperties, items — recursively; anything else that differs is reported as a
change of unknown effect, so nothing passes unseen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Side = Literal["agents", "backends", "unknown"]
_SHAPE_KEYWORDS = {"type", "properties", "required", "enum", "additionalProperties", "items"}
_NOTES = {"title", "description", "examples", "$comment", "default"}


@dataclass(frozen=True, slots=True)
class Change:
    path: str  # a JSON Pointer into the schema
    message: str
    breaks: Side | None  # None: compatible both ways

    def __str__(self) -> str:
        effect = "compatible" if self.breaks is None else f"breaks {self.breaks}"
        return f"{self.path or '/'}: {self.message} ({effect})"


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    found = schema.get("type")
    if found is None:
        return None
    types = {found} if isinstance(found, str) else set(found)
    if "number" in types:
        types.add("integer")  # an integer is a number
    return types


def compare(old: Mapping[str, Any], new: Mapping[str, Any], path: str = "") -> list[Change]:
    changes: list[Change] = []
    before, after = _types(old), _types(new)
    if before != after:
        if after is None or (before is not None and after > before):
            changes.append(
                Change(
                    path + "/type",
                    f"widened from {sorted(before or [])} to {sorted(after or ['any'])}",
                    "agents",
                )
            )
        elif before is None or after < before:
            changes.append(
                Change(
                    path + "/type",
                    f"narrowed from {sorted(before or ['any'])} to {sorted(after)}",
                    "backends",
                )
            )
        else:
            changes.append(
                Change(path + "/type", f"changed from {sorted(before)} to {sorted(after)}", "backends")
            )
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(new_required - old_required):
        changes.append(Change(path + "/required", f"{name!r} is now required", "backends"))
    for name in sorted(old_required - new_required):
        changes.append(Change(path + "/required", f"{name!r} is no longer required", "agents"))
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in sorted(set(old_props) - set(new_props)):
        changes.append(Change(f"{path}/properties/{name}", "removed", "agents"))
    for name in sorted(set(new_props) - set(old_props)):
        changes.append(Change(f"{path}/properties/{name}", "added", None))
    for name in sorted(set(old_props) & set(new_props)):
        if isinstance(old_props[name], dict) and isinstance(new_props[name], dict):
            changes.extend(compare(old_props[name], new_props[name], f"{path}/properties/{name}"))
    if "enum" in old or "enum" in new:
        old_enum, new_enum = old.get("enum"), new.get("enum")
        if old_enum is None:
            changes.append(Change(path + "/enum", f"restricted to {new_enum}", "backends"))
        elif new_enum is None:
            changes.append(Change(path + "/enum", "restriction lifted", "agents"))
        else:
            if dropped := [v for v in old_enum if v not in new_enum]:
                changes.append(Change(path + "/enum", f"no longer allows {dropped}", "backends"))
            if added := [v for v in new_enum if v not in old_enum]:
                changes.append(Change(path + "/enum", f"now also allows {added}", "agents"))
    old_extra, new_extra = old.get("additionalProperties", True), new.get("additionalProperties", True)
    if old_extra is not False and new_extra is False:
        changes.append(Change(path + "/additionalProperties", "no longer allowed", "backends"))
    elif old_extra is False and new_extra is not False:
        changes.append(Change(path + "/additionalProperties", "now allowed", "agents"))
    if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
        changes.extend(compare(old["items"], new["items"], path + "/items"))
    elif old.get("items") != new.get("items"):
        changes.append(Change(path + "/items", "changed", "unknown"))
    for keyword in sorted((set(old) | set(new)) - _SHAPE_KEYWORDS - _NOTES):
        if old.get(keyword) != new.get(keyword):
            changes.append(Change(f"{path}/{keyword}", "changed", "unknown"))
    return changes
