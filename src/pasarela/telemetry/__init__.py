"""Logs, metrics and (later) traces."""

from pasarela.telemetry.logging import configure_logging
from pasarela.telemetry.metrics import GatewayMetrics
from pasarela.telemetry.stage import TelemetryStage

__all__ = ["GatewayMetrics", "TelemetryStage", "configure_logging"]
