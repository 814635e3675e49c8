"""OpenTelemetry tracing for one runtime: its own TracerProvider, parent-based ratio sampling,
and an OTLP exporter (HTTP/protobuf or gRPC) with batching.

The SDK and the exporters are imported only here, and only when `telemetry.tracing` is set:
without it the gateway never loads them. The provider is the runtime's own, not the process's
global one, so several gateways (and tests) in one process each trace to their own collector.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from pasarela import __version__
from pasarela.config.observability import TracingSettings
from pasarela.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

DEFAULT_ENDPOINTS = {
    "otlp_http": "http://127.0.0.1:4318/v1/traces",
    "otlp_grpc": "http://127.0.0.1:4317",
}
INSTALL_HINT = "pip install 'pasarela[otel]'"


class Tracing:
    """The tracer every span of one runtime comes from, and the pipeline that exports them."""

    def __init__(self, settings: TracingSettings, provider: TracerProvider) -> None:
        self.settings = settings
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("pasarela", __version__)

    async def aclose(self) -> None:
        """Export what is still queued (bounded by the exporter's timeout), then stop."""
        await anyio.to_thread.run_sync(self.provider.shutdown)


def build_tracing(
    settings: TracingSettings, *, source: str = "<config>", exporter: SpanExporter | None = None
) -> Tracing:
    """A Tracing for `settings` (`exporter` replaces the configured one, e.g. in-memory in tests)."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    except ModuleNotFoundError as exc:
        raise _missing(source, exc) from None
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name, "service.version": __version__}),
        # A trace the agent started follows the agent's decision; the ratio applies to new ones.
        sampler=ParentBased(TraceIdRatioBased(settings.sampling)),
    )
    chosen = exporter if exporter is not None else _exporter(settings, source)
    if chosen is not None:
        provider.add_span_processor(BatchSpanProcessor(chosen))
    return Tracing(settings, provider)


def require_sdk(settings: TracingSettings, source: str = "<config>") -> None:
    """A ConfigError if the SDK (or the chosen exporter) is not installed; imports nothing."""
    needed = ["opentelemetry.sdk"]
    if settings.exporter != "none":
        needed.append(f"opentelemetry.exporter.otlp.proto.{settings.exporter.removeprefix('otlp_')}")
    for name in needed:
        try:
            found = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            found = None
        if found is None:
            raise _missing(source, ModuleNotFoundError(name=name))


def _exporter(settings: TracingSettings, source: str) -> SpanExporter | None:
    if settings.exporter == "none":
        return None
    endpoint = settings.endpoint or DEFAULT_ENDPOINTS[settings.exporter]
    headers = {name: value.get_secret_value() for name, value in settings.headers.items()}
    factory: Callable[..., Any]
    try:
        if settings.exporter == "otlp_http":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as factory
        else:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as factory
    except ModuleNotFoundError as exc:
        raise _missing(source, exc) from None
    if settings.exporter == "otlp_http":
        exporter: SpanExporter = factory(endpoint=endpoint, headers=headers, timeout=settings.timeout)
    else:
        # gRPC takes host:port; the scheme says whether TLS is used.
        exporter = factory(
            endpoint=endpoint.split("://", 1)[1],
            insecure=endpoint.startswith("http://"),
            headers=headers,
            timeout=settings.timeout,
        )
    return exporter


def _missing(source: str, exc: ModuleNotFoundError) -> ConfigError:
    return ConfigError(
        [
            ConfigProblem(
                source,
                "telemetry.tracing",
                f"tracing needs the OpenTelemetry SDK and exporters ({exc.name} is missing): {INSTALL_HINT}",
            )
        ]
    )
