"""The schema registry: named, versioned JSON Schemas (`customer@2`) that tools promise.

Schemas come from `schemas:` in the configuration, inline or as `{file: path}` (JSON or
YAML). Each is checked as a JSON Schema (draft 2020-12) when the configuration loads; a
tool's `output: customer@2` must name one, and it must describe an object (MCP's
`outputSchema` is always an object).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from pasarela.config.loader import LoadedConfig
from pasarela.errors import ArgumentProblem, ConfigError, ConfigProblem


@dataclass(frozen=True, slots=True)
class Contract:
    """One registered schema and its compiled validator."""

    name: str
    schema: Mapping[str, Any]
    validator: Draft202012Validator

    def problems(self, data: Any, limit: int = 5) -> list[ArgumentProblem]:
        """Where `data` breaks the schema (JSON Pointers), at most `limit` of them."""
        found = []
        for error in self.validator.iter_errors(data):
            pointer = "/" + "/".join(str(p) for p in error.absolute_path)
            found.append(ArgumentProblem(pointer, _without_values(error)[:200]))
            if len(found) >= limit:
                break
        return found


def _without_values(error: ValidationError) -> str:
    """What the schema expected, never the value found: a result breaking its contract is answered
    (and logged) before any result rule could decide whether the caller may see it."""
    keyword, expected = error.validator, error.validator_value
    if keyword == "required":
        return str(error.message)  # names the missing property: the schema's words, not data
    if keyword in ("additionalProperties", "unevaluatedProperties") and expected is False:
        return "holds properties the schema does not allow"
    if keyword == "type":
        return f"not of type {orjson.dumps(expected).decode()}"
    if keyword == "enum":
        return f"not one of {orjson.dumps(expected).decode()}"
    scalar = isinstance(expected, str | int | float | bool) or (
        isinstance(expected, list) and all(isinstance(v, str | int | float | bool) for v in expected)
    )
    if scalar:
        return f"breaks {keyword!r}: {orjson.dumps(expected).decode()}"
    return f"breaks {keyword!r} of the schema"


class SchemaRegistry:
    def __init__(self, contracts: Mapping[str, Contract]) -> None:
        self._contracts = dict(contracts)

    def __contains__(self, name: object) -> bool:
        return name in self._contracts

    def get(self, name: str) -> Contract:
        return self._contracts[name]

    def names(self) -> list[str]:
        return sorted(self._contracts)

    def versions(self, family: str) -> list[str]:
        """Every registered version of `family` (e.g. customer@1, customer@2), oldest first."""
        found = [n for n in self._contracts if n.split("@", 1)[0] == family]
        return sorted(found, key=lambda n: int(n.split("@", 1)[1]))


def load_registry(config: LoadedConfig) -> SchemaRegistry:
    contracts: dict[str, Contract] = {}
    problems: list[ConfigProblem] = []
    for name, entry in config.settings.schemas.items():
        key = f"schemas.{name}"
        try:
            schema = _schema_of(entry, config)
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            problems.append(ConfigProblem(config.source, key, f"not a valid JSON Schema: {exc.message}"))
            continue
        except ValueError as exc:
            problems.append(ConfigProblem(config.source, key, str(exc)))
            continue
        contracts[name] = Contract(name, schema, Draft202012Validator(schema))
    if problems:
        raise ConfigError(problems)
    return SchemaRegistry(contracts)


def _schema_of(entry: Mapping[str, Any], config: LoadedConfig) -> dict[str, Any]:
    if set(entry) != {"file"}:
        return dict(entry)
    path = config.resolve_path(str(entry["file"]))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    try:
        loaded = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path} is not valid JSON/YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} must hold one JSON Schema object")
    return loaded
