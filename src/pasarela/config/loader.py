"""Load pasarela.yaml: parse, resolve references, validate, and report every problem at once."""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from pasarela.config.backends import BACKEND_KINDS, BACKEND_MODELS, BackendBase
from pasarela.config.interpolation import Interpolator
from pasarela.config.model import SecretSourceSettings, Settings, VaultSecretsSettings
from pasarela.config.yaml_source import Path as KeyPath
from pasarela.config.yaml_source import format_path, line_of, read_yaml
from pasarela.errors import ConfigError, ConfigProblem
from pasarela.secrets import EnvSecretProvider, FileSecretProvider, Redactor, SecretChain, SecretProvider

DEFAULT_CONFIG = "pasarela.yaml"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated configuration and what loading it produced."""

    settings: Settings
    source: str
    base_dir: Path
    secrets: SecretChain
    redactor: Redactor
    lines: Mapping[str, int] = field(default_factory=dict)

    def resolve_path(self, value: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def locate(self, problems: Sequence[ConfigProblem]) -> list[ConfigProblem]:
        """The same problems, with the line of their key path (or its nearest ancestor) filled in."""
        located = []
        for problem in problems:
            line = problem.line
            path = problem.path
            while line is None and path:
                line = self.lines.get(path)
                path = path.rsplit(".", 1)[0] if "." in path else ""
            located.append(replace(problem, line=line))
        return located


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(file), "", "file not found")]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(file), "", f"cannot read the file: {exc.strerror}")]) from None
    return load_config_text(text, source=str(file), base_dir=file.resolve().parent, environ=environ)


def load_config_text(
    text: str, *, source: str, base_dir: Path, environ: Mapping[str, str] | None = None
) -> LoadedConfig:
    data, lines = read_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(source, "", "expected a mapping with at least `version: 1`", 1)])

    def problem(path: KeyPath, message: str) -> ConfigProblem:
        return ConfigProblem(source, format_path(path), message, line_of(path, lines))

    problems: list[ConfigProblem] = []
    chain = SecretChain(())
    if "secrets" in data:
        try:
            sources = TypeAdapter(list[SecretSourceSettings]).validate_python(data["secrets"])
            chain = _secret_chain(sources, base_dir, environ)
        except ValidationError as exc:
            problems.extend(_translate(exc, ("secrets",), problem, Redactor()))
        except ModuleNotFoundError as exc:
            problems.append(problem(("secrets",), f"vault needs {exc.name}: pip install 'pasarela[vault]'"))
    else:
        chain = _secret_chain(Settings.model_fields["secrets"].get_default(), base_dir, environ)

    redactor = Redactor()
    interpolator = Interpolator(chain, redactor, environ)
    resolved = {
        key: value if key == "secrets" else interpolator.resolve(value, (key,)) for key, value in data.items()
    }
    problems.extend(problem(path, message) for path, message in interpolator.problems)

    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as exc:
        problems.extend(_translate(exc, (), problem, redactor))
        settings = None
    if problems or settings is None:
        raise ConfigError(_dedupe(problems))
    return LoadedConfig(
        settings=settings,
        source=source,
        base_dir=base_dir,
        secrets=chain,
        redactor=redactor,
        lines={format_path(path): line for path, line in lines.items()},
    )


def _secret_chain(
    sources: list[SecretSourceSettings], base_dir: Path, environ: Mapping[str, str] | None
) -> SecretChain:
    providers: list[SecretProvider] = []
    for item in sources:
        if item.env is not None:
            providers.append(
                EnvSecretProvider(item.env.prefix)
                if environ is None
                else EnvSecretProvider(item.env.prefix, environ)
            )
        elif item.file is not None:
            directory = Path(item.file.dir).expanduser()
            providers.append(
                FileSecretProvider(directory if directory.is_absolute() else base_dir / directory)
            )
        elif item.vault is not None:
            providers.append(_vault(item.vault, base_dir, environ if environ is not None else os.environ))
    return SecretChain(tuple(providers))


def _vault(settings: VaultSecretsSettings, base_dir: Path, environ: Mapping[str, str]) -> SecretProvider:
    from pasarela.secrets.vault import VaultSecretProvider  # hvac is only imported when Vault is used

    token: str | None = None
    if settings.token_file is not None:
        file = Path(settings.token_file).expanduser()
        file = file if file.is_absolute() else base_dir / file
        source = f"the token file {file}"
        try:
            token = file.read_text(encoding="utf-8").strip()
        except OSError:
            token = None
    else:
        source = f"the environment variable {settings.token_env}"
        token = environ.get(settings.token_env) if settings.token_env else None
    return VaultSecretProvider(
        settings.url,
        mount=settings.mount,
        path=settings.path,
        token=token,
        token_source=source,
        namespace=settings.namespace,
        ca_cert=settings.ca_cert,
        timeout=settings.timeout,
    )


def _translate(
    exc: ValidationError,
    prefix: KeyPath,
    problem: typing.Callable[[KeyPath, str], ConfigProblem],
    redactor: Redactor,
) -> list[ConfigProblem]:
    found: list[ConfigProblem] = []
    for error in exc.errors(include_url=False):
        loc, backend = _untagged((*prefix, *error["loc"]))
        kind = error["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1], backend)
            what = f" for {backend.kind} backends" if backend is not None and len(loc) == 3 else ""
            hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
            message = f"unknown key{what}{hint}"
        elif kind == "backend_kind":
            given = error.get("input")
            present = [k for k in BACKEND_KINDS if isinstance(given, dict) and k in given]
            message = f"{error['msg']}; found: {', '.join(present) or 'none'}"
        elif kind == "missing":
            message = "required key is missing"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if kind not in ("value_error", "assertion_error") and not isinstance(
                error.get("input"), dict | list
            ):
                message += f" (got {error.get('input')!r:.80})"
        found.append(problem(loc, redactor.redact(message)))
    return found


def _dedupe(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return list(dict.fromkeys(problems))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            if (model := _model_in(arg)) is not None:
                return model
    return None


def _step(annotation: Any, part: str | int) -> Any:
    """The annotation reached by following `part` (a field, a list index or a dict key)."""
    model = _model_in(annotation)
    if model is not None and isinstance(part, str) and part in model.model_fields:
        return model.model_fields[part].annotation
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (list, dict) and args:
        return args[-1]
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in args:
            if (found := _step(arg, part)) is not None:
                return found
    return None


def _untagged(loc: KeyPath) -> tuple[KeyPath, type[BackendBase] | None]:
    """Pydantic puts a tagged union's tag in the path (`backends.crm.openapi.retry`): drop it, and
    say which kind of backend the rest of the path is in."""
    if len(loc) >= 3 and loc[0] == "backends" and isinstance(loc[2], str) and loc[2] in BACKEND_MODELS:
        return (*loc[:2], *loc[3:]), BACKEND_MODELS[loc[2]]
    return loc, None


def _allowed_keys(loc: KeyPath, backend: type[BackendBase] | None = None) -> list[str] | None:
    annotation: Any = Settings
    if backend is not None:  # within one backend: walk from its kind's model
        annotation, loc = backend, loc[2:]
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    model = _model_in(annotation)
    return sorted(model.model_fields) if model is not None else None
