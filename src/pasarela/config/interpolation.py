"""`${env:NAME}`, `${env:NAME:-default}` and `${secret:NAME}` inside configuration strings.

`$${` stands for a literal `${`. Every resolved secret is handed to the redactor, so it can be
scrubbed from logs and errors later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pasarela.config.yaml_source import Path
from pasarela.secrets import Redactor, SecretChain
from pasarela.secrets.errors import SecretProviderError

_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<kind>[a-z]+):(?P<name>[A-Za-z0-9_.-]+)(?::-(?P<default>[^}]*))?\}")


class Interpolator:
    def __init__(
        self, secrets: SecretChain, redactor: Redactor, environ: Mapping[str, str] | None = None
    ) -> None:
        self.secrets = secrets
        self.redactor = redactor
        self.environ = os.environ if environ is None else environ
        self.problems: list[tuple[Path, str]] = []

    def resolve(self, data: Any, path: Path = ()) -> Any:
        """A copy of `data` with every reference resolved; problems are collected, not raised."""
        if isinstance(data, dict):
            return {key: self.resolve(value, (*path, key)) for key, value in data.items()}
        if isinstance(data, list):
            return [self.resolve(item, (*path, index)) for index, item in enumerate(data)]
        if isinstance(data, str) and "${" in data:
            return self._resolve_string(data, path)
        return data

    def _resolve_string(self, text: str, path: Path) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            kind, name, default = match.group("kind"), match.group("name"), match.group("default")
            if kind == "env":
                value = self.environ.get(name, default)
                if value is None:
                    self.problems.append((path, f"environment variable {name} is not set"))
                    return ""
                return value
            if kind == "secret":
                try:
                    secret = self.secrets.get(name)
                except SecretProviderError as exc:
                    self.problems.append((path, f"secret {name!r}: {exc}"))
                    return ""
                if secret is None:
                    if default is not None:
                        return default
                    self.problems.append(
                        (path, f"secret {name!r} was not found (looked in: {self.secrets.describe()})")
                    )
                    return ""
                self.redactor.add(secret)
                return secret
            self.problems.append(
                (path, f"unknown reference kind {kind!r}: expected ${{env:…}} or ${{secret:…}}")
            )
            return match.group(0)

        unmatched = re.sub(_REFERENCE, "", text)
        if "${" in unmatched:
            self.problems.append(
                (path, "malformed reference: expected ${env:NAME}, ${env:NAME:-default} or ${secret:NAME}")
            )
        return _REFERENCE.sub(replace, text)
