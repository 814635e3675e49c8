"""What every part of the configuration model shares: strictness, names, one-of checks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

NAME = r"^[A-Za-z0-9_-]{1,64}$"


class Strict(BaseModel):
    """Unknown keys are errors; settings never change once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def exactly_one(model: BaseModel, fields: tuple[str, ...], what: str) -> None:
    present = [f for f in fields if getattr(model, f) is not None]
    if len(present) != 1:
        found = ", ".join(present) if present else "none"
        raise ValueError(f"expected exactly one {what} ({' | '.join(fields)}), found: {found}")
