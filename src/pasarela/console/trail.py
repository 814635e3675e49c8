"""Console actions in the audit trail, beside the calls: door `console`, the action as outcome.

A login, a refused visit, an approval, an explain, an audit search or verification is one
record: who (the principal), what (`outcome`: console_login, tool_approved …), on what (`tool`:
the tool concerned, or `-`), with which inputs (`arguments`, redacted). KPIs leave them out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import structlog

from pasarela import jsonsafe
from pasarela.audit.writer import AuditLost, AuditWriter
from pasarela.secrets import Redactor

DOOR = "console"
NO_TOOL = "-"
MAX_ARGUMENTS = 8192
TOOL_COLUMN = 64
COMMIT_WAIT = 5.0  # seconds an action waits for its record, as audit.commit_timeout does

log = structlog.get_logger("pasarela.console")


class ConsoleTrail:
    def __init__(self, writer: Callable[[], AuditWriter | None], redactor: Redactor) -> None:
        self._writer = writer  # the current runtime's: a reload may replace it
        self.redactor = redactor

    async def record(
        self,
        principal: str,
        action: str,
        request_id: str,
        *,
        tool: str = NO_TOOL,
        details: Mapping[str, Any] | None = None,
        allowed: bool = True,
        durable: bool = False,
    ) -> None:
        """Queue the record (`durable`: and wait until it is committed, as writes are)."""
        arguments = jsonsafe.dumps(self.redactor.scrub(dict(details or {}))).decode()
        if len(arguments) > MAX_ARGUMENTS:
            arguments = arguments[: MAX_ARGUMENTS - 1] + "…"
        record = {
            "at": time.time(),
            "request_id": request_id,
            "principal": principal[:200],
            "on_behalf_of": None,
            "door": DOOR,
            "tool": tool[:TOOL_COLUMN],
            "arguments": arguments,
            "decision": "allow" if allowed else "deny",
            "policies": "[]",
            "outcome": action,
            "upstream_status": None,
            "latency_ms": 0.0,
        }
        log.info("console_action", principal=principal, action=action, tool=tool)
        writer = self._writer()
        if writer is None:  # audit: {enabled: false}
            return
        committed = writer.submit(record, durable=durable)
        if committed is None:
            return
        try:
            with anyio.fail_after(COMMIT_WAIT):
                await committed
        except (TimeoutError, AuditLost):
            log.error("console_action_not_committed", principal=principal, action=action, tool=tool)
