"""What every door checks of a call before the pipeline sees it, so no stage has to.

- Nesting deeper than `server.max_nesting_depth` (64) is refused: policy, validation, audit
  and connectors all walk arguments, and none of them should recurse without bound.
- Integers outside the signed 64-bit range are refused, naming the argument: Cedar, SQL
  columns and most backends cannot hold them, and a JSON parser may round them silently.
- Numbers that are not finite (NaN, Infinity; 1e400 overflows to Infinity) are refused:
  JSON cannot carry them onward.
- An idempotency key is 1-255 printable ASCII characters (what the state store keeps).
"""

from __future__ import annotations

import math
import re
from typing import Any

from pasarela.errors import ArgumentProblem, InvalidArguments, InvalidRequest

DEFAULT_MAX_DEPTH = 64  # server.max_nesting_depth
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_REPORTED = 20
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")


def _step(path: str, key: object) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def check_arguments(arguments: Any, *, tool: str, max_depth: int) -> None:
    """Raise InvalidArguments (422) naming each offending argument; iterative, so any depth is safe."""
    problems: list[ArgumentProblem] = []
    stack: list[tuple[Any, str, int]] = [(arguments, "", 1)]
    while stack and len(problems) < MAX_REPORTED:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                message = f"nested deeper than the limit of {max_depth} levels (server.max_nesting_depth)"
                problems.append(ArgumentProblem(path or "/", message))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((item, _step(path, key), depth + 1) for key, item in items)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                problems.append(ArgumentProblem(path or "/", "integer out of range: must fit in 64 bits"))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(
                ArgumentProblem(path or "/", "not a finite number (NaN and Infinity cannot be sent on)")
            )
    if problems:
        problems.sort(key=lambda p: p.path)
        paths = ", ".join(p.path for p in problems)
        raise InvalidArguments(f"arguments for {tool!r} are not acceptable at: {paths}", problems)


def idempotency_key(value: Any, *, source: str) -> str | None:
    """A caller's idempotency key, or None; `source` names where it came from for the error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidRequest(f"{source} must be a string")
    key = value if isinstance(value, str) else str(value) if INT64_MIN <= value <= INT64_MAX else ""
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidRequest(f"{source} must be 1 to 255 printable ASCII characters")
    return key
