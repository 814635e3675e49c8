"""Pasarela: a governed gateway between AI agents and enterprise systems."""

__version__ = "0.1.0.dev0"

from pasarela.catalog import Catalog, ToolAnnotations, ToolSpec
from pasarela.connectors.python import tool
from pasarela.context import CallContext
from pasarela.errors import (
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
from pasarela.identity import Principal
from pasarela.pipeline import Call, Gateway, Outcome, Stage

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "Call",
    "CallContext",
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
