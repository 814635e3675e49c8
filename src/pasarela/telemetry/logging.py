"""Structured JSON logs (structlog). Every rendered line passes through the redactor."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from pasarela.secrets import Redactor
from pasarela.telemetry.correlation import current_trace_id


def _trace_id(logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Every line logged while serving a traced request names its trace."""
    if "trace_id" not in event:
        trace_id = current_trace_id()
        if trace_id is not None:
            event["trace_id"] = trace_id
    return event


class _RedactingRenderer:
    """Render the event as one line of JSON, then mask every known secret in it."""

    def __init__(self, redactor: Redactor, console: bool) -> None:
        self.redactor = redactor
        self.console = structlog.dev.ConsoleRenderer(colors=False) if console else None

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]) -> str:
        if self.console is not None:
            text = str(self.console(logger, name, event))
        else:
            text = orjson.dumps(event, default=str).decode()
        return self.redactor.redact(text)


def configure_logging(
    redactor: Redactor, *, level: str = "info", fmt: str = "json", stream: TextIO | None = None
) -> None:
    """Configure structlog (and route stdlib logging through the same line format)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer = _RedactingRenderer(redactor, console=fmt == "console")
    out = stream if stream is not None else sys.stderr
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _trace_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(_StdlibFormatter(redactor))
    root = logging.getLogger()
    root.handlers = [handler]
    # Libraries' own debug chatter stays out even when Pasarela logs at debug.
    root.setLevel(max(numeric, logging.INFO))


class _StdlibFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return self.redactor.redact(orjson.dumps(event, default=str).decode())
