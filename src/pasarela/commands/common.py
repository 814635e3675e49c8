"""What every `pasarela` subcommand shares: the console, config loading, runtime and state."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import typer
from rich.console import Console

from pasarela import jsonsafe
from pasarela.assembly import Runtime, build_runtime
from pasarela.commands.progress import progress_bar
from pasarela.config import LoadedConfig, load_config
from pasarela.errors import ConfigError, StartupError
from pasarela.state import StateStore, open_state
from pasarela.state.store import SchemaMode
from pasarela.telemetry import configure_logging

T = TypeVar("T")


class ExitCode(IntEnum):
    """The same meaning in every command (README, "Exit codes")."""

    OK = 0
    ERROR = 1  # a configuration or gateway error: the command could not do its job
    USAGE = 2  # a bad option or argument
    NO = 3  # the command's answer is no: denied, tampered, a breaking change, the call failed


err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The configuration file.", show_default=True)
]


def print_json(payload: Any) -> None:
    sys.stdout.write(jsonsafe.dumps(payload, indent=True).decode() + "\n")
    sys.stdout.flush()


def fail_config(error: ConfigError) -> typer.Exit:
    err.print(f"[bold red]Configuration has {len(error.problems)} problem(s):[/]")
    for problem in error.problems:
        err.print(f"  {problem}", markup=False)
    return typer.Exit(ExitCode.ERROR)


def load(path: Path) -> LoadedConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise fail_config(exc) from None


def with_runtime(
    loaded: LoadedConfig, work: Callable[[Runtime], Awaitable[T]], *, read_only: bool = False
) -> T:
    """Build the runtime (showing progress while backends load), run `work`, close it.

    `read_only` for commands that only look: they pin nothing, audit nothing, touch no shared
    store (see `build_runtime`)."""

    async def main() -> T:
        backends = len(loaded.settings.backends)
        with progress_bar(err, f"Loading {backends} backend(s)", total=backends) as bar:
            first = True

            def loading(name: str) -> None:
                nonlocal first
                bar.advance(0 if first else 1, label=f"Loading backend {name}")
                first = False

            runtime = await build_runtime(loaded, read_only=read_only, on_backend=loading)
        try:
            return await work(runtime)
        finally:
            await runtime.aclose()

    try:
        return anyio.run(main)
    except ConfigError as exc:
        raise fail_config(exc) from None
    except StartupError as exc:
        err.print(exc.detail, markup=False)
        raise typer.Exit(ExitCode.ERROR) from None


def quiet_logs(loaded: LoadedConfig) -> None:
    configure_logging(loaded.redactor, level="warning", fmt=loaded.settings.logging.format)


def with_state(
    loaded: LoadedConfig, work: Callable[[StateStore], Awaitable[T]], *, schema: SchemaMode = "check"
) -> T:
    async def main() -> T:
        store = await open_state(loaded.settings.state, loaded.base_dir, source=loaded.source, schema=schema)
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return anyio.run(main)
    except ConfigError as exc:
        raise fail_config(exc) from None
