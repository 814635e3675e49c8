"""Which of a backend's operations become tools, and under which names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pasarela.catalog.spec import ToolSpec
from pasarela.errors import ConfigProblem


def select_tools(
    specs: Sequence[ToolSpec],
    *,
    include: Sequence[str] | None,
    exclude: Sequence[str],
    rename: dict[str, str],
    source: str,
    key_path: str,
) -> tuple[list[ToolSpec], list[ConfigProblem]]:
    """Apply `include`/`exclude` (by operation key, tool name or tag) and `rename`.

    Names that match nothing are reported, so a typo in a filter never silently hides or
    exposes a tool.
    """
    problems: list[ConfigProblem] = []
    known = {s.origin for s in specs} | {s.name for s in specs} | {t for s in specs for t in s.tags}

    def matches(spec: ToolSpec, selectors: set[str]) -> bool:
        return spec.origin in selectors or spec.name in selectors or any(t in selectors for t in spec.tags)

    for label, selectors in (("include", include or []), ("exclude", exclude)):
        for index, selector in enumerate(selectors):
            if selector not in known:
                problems.append(
                    ConfigProblem(
                        source,
                        f"{key_path}.{label}[{index}]",
                        f"no operation, tool or tag named {selector!r} in this backend",
                    )
                )
    for original in rename:
        if not any(original in (s.origin, s.name) for s in specs):
            problems.append(
                ConfigProblem(
                    source, f"{key_path}.rename.{original}", f"no operation or tool named {original!r}"
                )
            )

    included = set(include) if include is not None else None
    excluded = set(exclude)
    selected: list[ToolSpec] = []
    for spec in specs:
        if included is not None and not matches(spec, included):
            continue
        if matches(spec, excluded):
            continue
        new_name = rename.get(spec.origin) or rename.get(spec.name)
        selected.append(replace(spec, name=new_name) if new_name else spec)
    return selected, problems
