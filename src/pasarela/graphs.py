"""Loops in small dependency graphs (fallbacks, composite steps, composites calling composites)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A loop in `graph` (node → the nodes it leads to), as the path that closes it, or None.

    Nodes and edges are visited in the order given, so the loop reported is stable."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in graph.get(node, ()):
            if found := visit(target, [*path, node]):
                return found
        done.add(node)
        return None

    for start in graph:
        if found := visit(start, []):
            return found
    return None
