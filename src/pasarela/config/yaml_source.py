"""Read YAML and remember on which line each key path starts (for error messages)."""

from __future__ import annotations

from typing import Any

import yaml

from pasarela.errors import ConfigError, ConfigProblem

Path = tuple[str | int, ...]

try:  # the C loader is ~10x faster on large specs; fall back where libyaml is absent
    SafeLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,attr-defined,unused-ignore]
except AttributeError:  # pragma: no cover
    SafeLoader = yaml.SafeLoader


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int], twice: list[tuple[Path, int, int]]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":  # YAML keeps the last silently: half a config ignored
                twice.append(((*path, key), seen[key], line))
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, twice)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, twice)


def read_yaml(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    """Parse `text`; return the data and a map of key path → line number."""
    try:
        node = yaml.compose(text, Loader=SafeLoader)
        data = yaml.load(text, Loader=SafeLoader)  # noqa: S506 - SafeLoader (C or Python)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(source, "", f"not valid YAML: {problem}", line)]) from None
    lines: dict[Path, int] = {}
    twice: list[tuple[Path, int, int]] = []
    if node is not None:
        _walk(node, (), lines, twice)
    if twice:
        raise ConfigError(
            [
                ConfigProblem(
                    source,
                    format_path(path),
                    f"this key is given twice (lines {first} and {again}): say it once",
                    again,
                )
                for path, first, again in twice
            ]
        )
    return data, lines


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def line_of(path: Path, lines: dict[Path, int]) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        if (found := lines.get(path[:end])) is not None:
            return found
    return None
