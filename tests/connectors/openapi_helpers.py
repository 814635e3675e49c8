from __future__ import annotations

from pathlib import Path
from typing import Any

from pasarela.catalog import ToolSpec
from pasarela.config.backends import OpenApiBackend
from pasarela.connectors.openapi import OpenApiConnector
from pasarela.secrets import Redactor


def connector(spec: str | Path, **settings: Any) -> OpenApiConnector:
    return OpenApiConnector(
        "test",
        OpenApiBackend(openapi=str(spec), **settings),
        base_dir=Path("."),
        redactor=Redactor(),
        source="test.yaml",
    )


async def load(spec: str | Path, **settings: Any) -> dict[str, ToolSpec]:
    c = connector(spec, **settings)
    try:
        return {t.name: t for t in await c.load()}
    finally:
        await c.aclose()
