"""Where `${secret:NAME}` resolves: an ordered chain of providers, first match wins."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

SECRET_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class SecretProvider(Protocol):
    def get(self, name: str) -> str | None:
        """The secret's value, or None if this provider does not have it."""
        ...

    def describe(self) -> str:
        """Where this provider looks, for error messages (never a value)."""
        ...


@dataclass(frozen=True, slots=True)
class EnvSecretProvider:
    prefix: str = "PASARELA_SECRET_"
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def get(self, name: str) -> str | None:
        return self.environ.get(self.prefix + name)

    def describe(self) -> str:
        return f"environment variable {self.prefix}<NAME>"


@dataclass(frozen=True, slots=True)
class FileSecretProvider:
    """One file per secret in a directory (Kubernetes and Docker secrets mount this way)."""

    directory: Path

    def get(self, name: str) -> str | None:
        if name.startswith(".") or not SECRET_NAME.match(name):
            return None
        path = self.directory / name
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def describe(self) -> str:
        return f"file {self.directory}/<NAME>"


@dataclass(frozen=True, slots=True)
class SecretChain:
    providers: Sequence[SecretProvider]

    def get(self, name: str) -> str | None:
        for provider in self.providers:
            value = provider.get(name)
            if value is not None:
                return value
        return None

    def describe(self) -> str:
        return ", ".join(p.describe() for p in self.providers) or "no secret providers configured"
