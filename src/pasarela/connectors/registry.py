"""Connectors chosen by the key that names a backend's kind (an explicit registry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pasarela.catalog.description_cache import DescriptionCache, default_directory
from pasarela.config.backends import (
    A2aBackend,
    BackendBase,
    BackendSettings,
    GraphQLBackend,
    GrpcBackend,
    McpBackend,
    OpenApiBackend,
    PythonBackend,
    SoapBackend,
    SqlBackend,
)
from pasarela.config.loader import LoadedConfig
from pasarela.connectors.base import Connector
from pasarela.connectors.openapi import OpenApiConnector
from pasarela.connectors.python import PythonConnector
from pasarela.errors import ConfigError, ConfigProblem

ConnectorFactory = Callable[[str, Any, LoadedConfig], Connector]


def _openapi(name: str, settings: OpenApiBackend, config: LoadedConfig) -> Connector:
    return OpenApiConnector(
        name,
        settings,
        base_dir=config.base_dir,
        redactor=config.redactor,
        source=config.source,
        cache=description_cache(config),
    )


def _python(name: str, settings: PythonBackend, config: LoadedConfig) -> Connector:
    return PythonConnector(
        name, settings, base_dir=config.base_dir, redactor=config.redactor, source=config.source
    )


def _sql(name: str, settings: SqlBackend, config: LoadedConfig) -> Connector:
    from pasarela.connectors.sql import SqlConnector  # sqlglot is only imported when SQL is used

    return SqlConnector(
        name, settings, base_dir=config.base_dir, redactor=config.redactor, source=config.source
    )


def _mcp(name: str, settings: McpBackend, config: LoadedConfig) -> Connector:
    from pasarela.connectors.upstream_mcp import UpstreamMcpConnector

    return UpstreamMcpConnector(
        name, settings, base_dir=config.base_dir, redactor=config.redactor, source=config.source
    )


def _graphql(name: str, settings: GraphQLBackend, config: LoadedConfig) -> Connector:
    from pasarela.connectors.graphql import GraphQLConnector

    return GraphQLConnector(
        name, settings, base_dir=config.base_dir, redactor=config.redactor, source=config.source
    )


def _soap(name: str, settings: SoapBackend, config: LoadedConfig) -> Connector:
    from pasarela.connectors.soap import SoapConnector  # zeep is only imported when SOAP is used

    return SoapConnector(
        name, settings, base_dir=config.base_dir, redactor=config.redactor, source=config.source
    )


def _grpc(name: str, settings: GrpcBackend, config: LoadedConfig) -> Connector:
    try:
        from pasarela.connectors.grpc import GrpcConnector  # grpcio is only imported when gRPC is used
    except ModuleNotFoundError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    config.source,
                    f"backends.{name}.grpc",
                    f"gRPC backends need {exc.name}: reinstall pasarela (it depends on grpcio)",
                )
            ]
        ) from None
    return GrpcConnector(
        name,
        settings,
        base_dir=config.base_dir,
        redactor=config.redactor,
        source=config.source,
        cache=description_cache(config),
    )


def _a2a(name: str, settings: A2aBackend, config: LoadedConfig) -> Connector:
    try:
        from pasarela.connectors.a2a import A2aConnector  # a2a-sdk is only imported when A2A is used
    except ModuleNotFoundError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    config.source,
                    f"backends.{name}.a2a",
                    f"A2A backends need {exc.name}: reinstall pasarela (it depends on a2a-sdk)",
                )
            ]
        ) from None
    return A2aConnector(
        name, settings, base_dir=config.base_dir, redactor=config.redactor, source=config.source
    )


def description_cache(config: LoadedConfig) -> DescriptionCache | None:
    """Where converted descriptions are kept (`description_cache:`), or None when it is off."""
    setting = config.settings.description_cache
    if setting is False:
        return None
    directory = (
        default_directory(config.settings.state, config.base_dir)
        if setting is True
        else config.resolve_path(setting)
    )
    return DescriptionCache(directory, config.redactor)


# By settings model: the kinds are those of config.backends.BACKEND_MODELS, each with its factory.
CONNECTORS: dict[type[BackendBase], ConnectorFactory] = {
    SoapBackend: _soap,
    OpenApiBackend: _openapi,
    PythonBackend: _python,
    SqlBackend: _sql,
    McpBackend: _mcp,
    GraphQLBackend: _graphql,
    GrpcBackend: _grpc,
    A2aBackend: _a2a,
}


def create_connector(name: str, settings: BackendSettings, config: LoadedConfig) -> Connector:
    return CONNECTORS[type(settings)](name, settings, config)
