"""@tool functions used by the tests (and loadable as `python: tests.connectors.sample_tools`)."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from pydantic import BaseModel, Field

from pasarela import tool


class Greeting(BaseModel):
    text: str
    shout: bool


@tool(read_only=True)
def greet(
    name: Annotated[str, Field(min_length=1, description="Who to greet")], shout: bool = False
) -> Greeting:
    """Say hello."""
    text = f"Hello, {name}!"
    return Greeting(text=text.upper() if shout else text, shout=shout)


@tool(name="add_numbers", idempotent=True)
async def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    return a + b


@tool
def classify(level: Literal["low", "high"]) -> dict[str, str]:
    return {"level": level}


@tool
def explode() -> None:
    raise ValueError("secret internal detail")


@tool
async def sleepy(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "done"


def not_a_tool() -> None:
    """Plain functions in the module are ignored."""
