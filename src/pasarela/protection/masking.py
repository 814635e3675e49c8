"""Mask sensitive values in tool results, by field name anywhere or by path.

Paths are dotted, with `[*]` for every element of a list and `[n]` for one:
`accounts[*].iban`, `customer.ssn`, `cards[0].number`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MASK = "***"
_SEGMENT = re.compile(r"^(?P<key>[^.\[\]]+)?(?P<indexes>(\[(\*|\d+)\])*)$")
_INDEX = re.compile(r"\[(\*|\d+)\]")

Step = str | int | None  # a key, a list index, or None for every element


class PathError(ValueError):
    pass


def parse_path(text: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    if not text or text.startswith(".") or text.endswith(".") or ".." in text:
        raise PathError(f"{text!r} is not a path like `customer.ssn` or `accounts[*].iban`")
    for segment in text.split("."):
        match = _SEGMENT.match(segment)
        if match is None or (match.group("key") is None and not match.group("indexes")):
            raise PathError(f"{text!r}: cannot read the segment {segment!r}")
        if match.group("key") is not None:
            steps.append(match.group("key"))
        for index in _INDEX.findall(match.group("indexes")):
            steps.append(None if index == "*" else int(index))
    return tuple(steps)


def _masked(value: Any, keep_last: int) -> Any:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if keep_last and len(text) > keep_last:
        return MASK + text[-keep_last:]
    return MASK


@dataclass(frozen=True, slots=True)
class MaskingRule:
    """What to mask in one tool's results."""

    fields: frozenset[str]
    paths: tuple[tuple[Step, ...], ...]
    keep_last: int = 0

    @classmethod
    def build(cls, fields: Sequence[str], paths: Sequence[str], keep_last: int = 0) -> MaskingRule:
        return cls(frozenset(fields), tuple(parse_path(p) for p in paths), keep_last)

    def apply(self, data: Any) -> tuple[Any, int]:
        """A masked copy of `data` and how many values were masked (the input is not changed)."""
        counter = [0]
        result = self._fields(data, counter) if self.fields else data
        for path in self.paths:
            result = self._path(result, path, counter)
        return result, counter[0]

    def _fields(self, node: Any, counter: list[int]) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in self.fields and value is not None:
                    counter[0] += 1
                    out[key] = _masked(value, self.keep_last) if not isinstance(value, dict | list) else MASK
                else:
                    out[key] = self._fields(value, counter)
            return out
        if isinstance(node, list):
            return [self._fields(item, counter) for item in node]
        return node

    def _path(self, node: Any, path: tuple[Step, ...], counter: list[int]) -> Any:
        if not path:
            if node is None:
                return None
            counter[0] += 1
            return _masked(node, self.keep_last) if not isinstance(node, dict | list) else MASK
        step, rest = path[0], path[1:]
        if isinstance(step, str) and isinstance(node, dict) and step in node:
            return {**node, step: self._path(node[step], rest, counter)}
        if step is None and isinstance(node, list):
            return [self._path(item, rest, counter) for item in node]
        if isinstance(step, int) and isinstance(node, list) and -len(node) <= step < len(node):
            copy = list(node)
            copy[step] = self._path(node[step], rest, counter)
            return copy
        return node
