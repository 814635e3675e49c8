"""Pasarela: a governed gateway between AI agents and enterprise systems."""

__version__ = "0.1.0.dev0"

from pasarela.catalog import Catalog, ToolAnnotations, ToolSpec  # noqa: E402
from pasarela.connectors.python import tool  # noqa: E402
from pasarela.errors import (  # noqa: E402
    AccessDenied,
    AuthenticationError,
    ConfigError,
    InvalidArguments,
    PasarelaError,
    ToolNotFound,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from pasarela.identity import Principal  # noqa: E402
from pasarela.pipeline import Call, Gateway, Outcome, Stage  # noqa: E402

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "Call",
    "Catalog",
    "ConfigError",
    "Gateway",
    "InvalidArguments",
    "Outcome",
    "PasarelaError",
    "Principal",
    "Stage",
    "ToolAnnotations",
    "ToolNotFound",
    "ToolSpec",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "__version__",
    "tool",
]
