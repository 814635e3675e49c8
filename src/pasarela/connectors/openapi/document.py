"""Read an OpenAPI description from a file or a URL and tell which dialect it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import yaml

from pasarela.config.yaml_source import SafeLoader
from pasarela.connectors.openapi import yaml_fast


class DocumentError(ValueError):
    """The description cannot be read or is not OpenAPI; the message says why."""


@dataclass(frozen=True, slots=True)
class Document:
    data: dict[str, Any]
    location: str
    swagger2: bool
    openapi_31: bool


def parse_document(text: str | bytes, location: str) -> Document:
    try:
        looks_like_json = text.lstrip()[:1] in ("{", b"{")
        data = orjson.loads(text) if looks_like_json else load_yaml(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise DocumentError(f"{location} is neither valid JSON nor YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DocumentError(f"{location} does not hold an OpenAPI description (expected a mapping)")
    if str(data.get("swagger", "")).startswith("2."):
        return Document(data, location, swagger2=True, openapi_31=False)
    version = str(data.get("openapi", ""))
    if version.startswith("3.0"):
        return Document(data, location, swagger2=False, openapi_31=False)
    if version.startswith("3.1") or version.startswith("3.2"):
        return Document(data, location, swagger2=False, openapi_31=True)
    raise DocumentError(
        f"{location} is not a Swagger 2.0 or OpenAPI 3.x description (no `swagger: 2.0` or `openapi: 3.x` key)"
    )


def load_yaml(text: str | bytes) -> Any:
    """What `yaml.load` with the safe loader gives, by the fast path when the text allows it."""
    try:
        return yaml_fast.load(text)
    except yaml_fast.Unsupported:
        # SafeLoader: the C or Python safe loader, never the full one.
        return yaml.load(text, Loader=SafeLoader)  # noqa: S506


async def read_document(source: str, base_dir: Path, *, timeout: float = 30.0) -> Document:
    content, location = await read_source(source, base_dir, timeout=timeout)
    return parse_document(content, location)


async def read_source(source: str, base_dir: Path, *, timeout: float = 30.0) -> tuple[bytes, str]:
    """The description's bytes and where they came from (a URL or an absolute path)."""
    if source.startswith(("http://", "https://")):
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False
                ) as session,
                session.get(source) as response,
            ):
                if response.status != 200:
                    raise DocumentError(f"cannot fetch {source}: HTTP {response.status}")
                return await response.read(), source
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DocumentError(f"cannot fetch {source}: {type(exc).__name__} {exc}") from None
    path = await anyio.Path(source).expanduser()
    if not path.is_absolute():
        path = anyio.Path(base_dir) / path
    try:
        return await path.read_bytes(), str(path)
    except FileNotFoundError:
        raise DocumentError(f"file not found: {path}") from None
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror}") from None
