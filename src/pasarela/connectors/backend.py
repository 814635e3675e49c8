"""What every configured connector holds: its backend's name, settings and where they came from."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Generic, TypeVar

from pasarela.catalog.spec import ToolSpec
from pasarela.config.backends import BackendBase
from pasarela.connectors.base import Invocation, SpanTarget
from pasarela.errors import ConfigError, ConfigProblem
from pasarela.secrets import Redactor

S = TypeVar("S", bound=BackendBase)


class BackendConnector(Generic[S]):
    """Base of the connectors built from `backends.<name>` (one shape of constructor for all),
    typed by the settings of their kind."""

    def __init__(self, backend: str, settings: S, *, base_dir: Path, redactor: Redactor, source: str) -> None:
        self.backend = backend
        self.settings = settings
        self.base_dir = base_dir  # relative paths in the settings are relative to the config file
        self.redactor = redactor
        self.source = source

    def span_target(self, tool: ToolSpec) -> SpanTarget:
        """How a call of `tool` appears in a trace; connectors that speak a protocol say more."""
        return SpanTarget(f"execute_tool {tool.name}", "internal", {"code.namespace": self.settings.kind})

    def problem(self, key: str, message: str) -> ConfigProblem:
        """A problem at `backends.<name>.<key>`."""
        return ConfigProblem(self.source, f"backends.{self.backend}.{key}", message)

    def config_error(self, key: str, message: str) -> ConfigError:
        return ConfigError([self.problem(key, message)])

    def time_limit(self, invocation: Invocation) -> float:
        """The call's own timeout (a tool's override) or the backend's, and never past its deadline."""
        limit = invocation.timeout if invocation.timeout is not None else self.settings.timeout
        if invocation.deadline is not None:
            limit = min(limit, max(0.0, invocation.deadline - time.monotonic()))
        return limit

    def connect_limit(self, invocation: Invocation) -> float:
        connect = invocation.connect_timeout
        return min(
            connect if connect is not None else self.settings.connect_timeout, self.time_limit(invocation)
        )
