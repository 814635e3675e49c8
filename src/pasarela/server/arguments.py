"""What every door checks of a call before the pipeline sees it, so no stage has to.

- Nesting deeper than `server.max_nesting_depth` (64) is refused: policy, validation, audit
  and connectors all walk arguments, and none of them should recurse without bound.
- Integers outside the signed 64-bit range are refused, naming the argument: Cedar, SQL
  columns and most backends cannot hold them, and a JSON parser may round them silently.
- Numbers that are not finite (NaN, Infinity; 1e400 overflows to Infinity) are refused:
  JSON cannot carry them onward.
- More than 10,000 values (every value at any depth, keys' values included) are refused: every
  stage walks the arguments on the event loop (Cedar alone costs ~2.5 µs per value), so a 4 MiB
  body of a million tiny values cost seconds of CPU per call and starved every other agent.
- An idempotency key is 1-255 printable ASCII characters (what the state store keeps).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from pasarela.errors import ArgumentProblem, InvalidArguments, InvalidRequest
from pasarela.traffic.idempotency import KEY_PATTERN

DEFAULT_MAX_DEPTH = 64  # server.max_nesting_depth
MAX_VALUES = 10_000  # like the result rules' bound on a result (docs/policies.md)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_REPORTED = 20


def _pointer(keys: list[object]) -> str:
    return "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in keys) or "/"


def _problem(value: Any, depth: int, max_depth: int) -> str | None:
    """What is wrong with one value at this depth, if anything (containers: only their depth)."""
    if isinstance(value, dict | list):
        if depth > max_depth:
            return f"nested deeper than the limit of {max_depth} levels (server.max_nesting_depth)"
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return "integer out of range: must fit in 64 bits"
    if isinstance(value, float) and not math.isfinite(value):
        return "not a finite number (NaN and Infinity cannot be sent on)"
    return None


def _children(value: dict[Any, Any] | list[Any]) -> Iterator[tuple[object, Any]]:
    return iter(value.items()) if isinstance(value, dict) else enumerate(value)


def check_arguments(arguments: Any, *, tool: str, max_depth: int, max_values: int = MAX_VALUES) -> None:
    """Raise InvalidArguments (422) naming each offending argument.

    Walks with a stack of iterators, so memory grows with the depth (bounded), not the width,
    and any depth is safe: no recursion."""
    if not isinstance(arguments, dict):
        return  # absent; the validation stage explains any other shape
    problems: list[ArgumentProblem] = []
    keys: list[object] = []  # the path to the container whose children are being walked
    walking = [_children(arguments)]
    seen = 0
    while walking and len(problems) < MAX_REPORTED:
        try:
            key, value = next(walking[-1])
        except StopIteration:
            walking.pop()
            if keys:
                keys.pop()
            continue
        seen += 1
        if seen > max_values:  # stop at once: the walk itself must stay cheap
            limit = f"more than {max_values} values (arguments hold at most {max_values}, nested included)"
            raise InvalidArguments(
                f"arguments for {tool!r} are too large: more than {max_values} values",
                [ArgumentProblem("/", limit)],
            )
        message = _problem(value, len(walking) + 1, max_depth)
        if message is not None:
            problems.append(ArgumentProblem(_pointer([*keys, key]), message))
        elif isinstance(value, dict | list):
            walking.append(_children(value))
            keys.append(key)
    if problems:
        paths = ", ".join(p.path for p in problems)
        raise InvalidArguments(f"arguments for {tool!r} are not acceptable at: {paths}", problems)


def idempotency_key(value: Any, *, source: str) -> str | None:
    """A caller's idempotency key, or None; `source` names where it came from for the error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidRequest(f"{source} must be a string")
    key = value if isinstance(value, str) else str(value) if INT64_MIN <= value <= INT64_MAX else ""
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidRequest(f"{source} must be 1 to 255 printable ASCII characters")
    return key
