"""The one error tree of Pasarela.

Every error the gateway raises on purpose derives from `PasarelaError`::

    PasarelaError                      500 internal
    ├── ConfigError                    (startup / `pasarela check`; carries every ConfigProblem)
    ├── StartupError                   (cannot listen, and other operational start-up failures)
    ├── InvalidRequest                 400 invalid_request     (a malformed request body)
    │   └── RequestTooLarge            413 request_too_large   (the body exceeds server.max_request_bytes)
    ├── AuthenticationError            401 unauthenticated
    ├── AccessDenied                   403 denied
    │   └── RelayRefused               403 relay_refused       (an upstream's sampling/elicitation not passed on)
    ├── ToolNotFound                   404 unknown_tool        (MCP: JSON-RPC -32602)
    ├── EventSourceNotFound            404 unknown_event_source (POST /v1/events/{source})
    ├── CursorExpired                  410 cursor_expired      (events after the cursor are past retention)
    ├── EventRefused                   422 invalid_event       (an event that cannot be stored; nothing was)
    ├── ToolQuarantined                409 quarantined         (changed at its backend, awaiting approval)
    ├── IdempotencyConflict            409 idempotency_conflict (key reused with other arguments, or in flight)
    ├── InvalidArguments               422 invalid_arguments   (carries the failing paths)
    ├── RateLimited                    429 rate_limited        (Retry-After)
    ├── QuotaExceeded                  429 quota_exceeded      (Retry-After: when the period resets)
    ├── BudgetExceeded                 429 budget_exceeded     (the agent's cost budget is spent; Retry-After)
    ├── AuditUnavailable               503 audit_unavailable   (the call cannot be audited; Retry-After)
    └── UpstreamError                  502 upstream_error      (the backend answered with an error)
        ├── UpstreamUnavailable        503 upstream_unavailable (could not connect)
        │   ├── Throttled              503 throttled           (the backend's bulkhead is full; Retry-After)
        │   └── CircuitOpen            503 circuit_open        (the backend is failing; Retry-After)
        │       └── CallerCircuitOpen  503 caller_circuit_open (this caller's calls alone fail; Retry-After)
        ├── UpstreamContractError      502 upstream_contract   (the answer violates the tool's output schema)
        └── UpstreamTimeout            504 upstream_timeout

Each error knows its HTTP status and stable problem `type` (RFC 9457), and whether MCP reports
it as a protocol error or as a tool result with `isError` (so the model can read and correct
it). The doors translate in exactly one place each: `server/problems.py` for HTTP and
`server/mcp_calls.py` for MCP. Messages never contain credentials: upstream bodies are cut short
and passed through the redactor before they reach an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

PROBLEM_TYPE_PREFIX = "urn:pasarela:problem:"

# JSON-RPC error code for "invalid params", which MCP uses for an unknown tool.
MCP_INVALID_PARAMS = -32602


class PasarelaError(Exception):
    """Root of every error Pasarela raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal gateway error"
    # None: report over MCP as a tool result with isError; otherwise a JSON-RPC error code.
    mcp_code: ClassVar[int | None] = None
    # Seconds after which a retry may succeed (Retry-After over HTTP, `retry_after` over MCP).
    retry_after: float | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = extra

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_PREFIX + self.code

    def with_extra(self, **extra: Any) -> Self:
        """A copy of this error with more in its problem document (the original is left as it is)."""
        # Not copy.copy: it would call the subclass's constructor with `args` alone.
        copied = type(self).__new__(type(self))
        copied.__dict__.update(self.__dict__)
        copied.args = self.args
        copied.extra = {**self.extra, **extra}
        return copied

    def headers(self) -> Mapping[str, str]:
        """HTTP headers that belong with this error (e.g. Retry-After)."""
        if self.retry_after is None:
            return {}
        # Retry-After takes whole seconds; round up so a prompt retry is never refused again.
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}

    def _set_retry_after(self, retry_after: float) -> None:
        self.retry_after = max(0.0, retry_after)
        self.extra["retry_after"] = round(self.retry_after, 3)

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        problem: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance is not None:
            problem["instance"] = instance
        problem.update(self.extra)
        return problem


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a configuration: where, and what was expected."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = self.path or "(top level)"
        return f"{where}: {key}: {self.message}"


class ConfigError(PasarelaError):
    code = "config_error"
    title = "Invalid configuration"

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class StartupError(PasarelaError):
    code = "startup_failed"
    title = "The gateway could not start"


class InvalidRequest(PasarelaError):
    status = 400
    code = "invalid_request"
    title = "Malformed request"


class RequestTooLarge(InvalidRequest):
    status = 413
    code = "request_too_large"
    title = "Request body too large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the request body is larger than the limit of {limit} bytes (server.max_request_bytes)",
            limit_bytes=limit,
        )


class AuthenticationError(PasarelaError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"

    def headers(self) -> Mapping[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="pasarela"'}


class AccessDenied(PasarelaError):
    status = 403
    code = "denied"
    title = "Access denied"


class RelayRefused(AccessDenied):
    """An upstream MCP server asked the agent (sampling, elicitation) and the gateway did not pass
    it on: the backend's settings, policy, or the agent's client said no. The upstream gets it
    as a JSON-RPC error; the agent never sees it."""

    code = "relay_refused"
    title = "The gateway did not pass this request on to the agent"


class ToolNotFound(PasarelaError):
    status = 404
    code = "unknown_tool"
    title = "Unknown tool"
    mcp_code = MCP_INVALID_PARAMS


class EventSourceNotFound(PasarelaError):
    status = 404
    code = "unknown_event_source"
    title = "No such event source"


class CursorExpired(PasarelaError):
    """Events after the cursor were deleted by the log's retention: reading on would skip them."""

    status = 410
    code = "cursor_expired"
    title = "The cursor is older than the events the log keeps"


class EventRefused(PasarelaError):
    """An incoming event that cannot be stored (malformed, unmapped, off its schema); none was."""

    status = 422
    code = "invalid_event"
    title = "The event was refused"


class JobNotFound(PasarelaError):
    status = 404
    code = "unknown_job"
    title = "Unknown job"


class JobConflict(PasarelaError):
    """The job cannot do what was asked in its state (e.g. a tool that never runs as a job)."""

    status = 409
    code = "job_conflict"
    title = "Not possible for this job"


class ToolQuarantined(PasarelaError):
    status = 409
    code = "quarantined"
    title = "Tool quarantined"


@dataclass(frozen=True, slots=True)
class ArgumentProblem:
    """One failing argument: a JSON Pointer into the arguments and what is wrong there."""

    path: str
    message: str


class InvalidArguments(PasarelaError):
    status = 422
    code = "invalid_arguments"
    title = "Invalid arguments"

    def __init__(self, detail: str, problems: Sequence[ArgumentProblem] = ()) -> None:
        self.problems = tuple(problems)
        super().__init__(detail, errors=[{"path": p.path, "message": p.message} for p in self.problems])


class IdempotencyConflict(PasarelaError):
    status = 409
    code = "idempotency_conflict"
    title = "Idempotency key conflict"

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        if retry_after is not None:
            self._set_retry_after(retry_after)


class RateLimited(PasarelaError):
    status = 429
    code = "rate_limited"
    title = "Rate limit exceeded"

    def __init__(self, detail: str, *, retry_after: float, limit: str) -> None:
        super().__init__(detail, limit=limit)
        self._set_retry_after(retry_after)


class QuotaExceeded(PasarelaError):
    status = 429
    code = "quota_exceeded"
    title = "Quota exhausted"

    def __init__(self, detail: str, *, retry_after: float, quota: str) -> None:
        super().__init__(detail, quota=quota)
        self._set_retry_after(retry_after)


class BudgetExceeded(PasarelaError):
    """The agent has spent its cost budget for the period (`budgets:` with `action: deny`)."""

    status = 429
    code = "budget_exceeded"
    title = "Cost budget spent"

    def __init__(
        self, detail: str, *, retry_after: float, budget: str, spent: float, limit: float, currency: str
    ) -> None:
        super().__init__(detail, budget=budget, spent=round(spent, 6), limit=limit, currency=currency)
        self._set_retry_after(retry_after)


class AuditUnavailable(PasarelaError):
    """The audit trail cannot be written, so the call is refused (or its answer withheld)."""

    status = 503
    code = "audit_unavailable"
    title = "The audit trail cannot be written"

    def __init__(self, detail: str, *, retry_after: float = 1.0, completed: bool = False) -> None:
        super().__init__(detail, completed=completed)
        self._set_retry_after(retry_after)


class UpstreamError(PasarelaError):
    """The backend was reached but answered with an error."""

    status = 502
    code = "upstream_error"
    title = "The backend system reported an error"

    def __init__(
        self,
        detail: str,
        *,
        backend: str,
        upstream_status: int | None = None,
        retry_after: float | None = None,
        request_refused: bool = False,
        **extra: Any,
    ) -> None:
        self.backend = backend
        self.upstream_status = upstream_status
        # The backend refused this request as wrong (like a 4xx): it says nothing of its health.
        self.request_refused = request_refused
        if upstream_status is not None:
            extra["upstream_status"] = upstream_status
        super().__init__(detail, backend=backend, **extra)
        if retry_after is not None:  # the backend's own Retry-After (e.g. with a 429)
            self._set_retry_after(retry_after)


class UpstreamUnavailable(UpstreamError):
    status = 503
    code = "upstream_unavailable"
    title = "The backend system is unavailable"


class Throttled(UpstreamUnavailable):
    code = "throttled"
    title = "Too many calls in flight to the backend system"

    def __init__(self, detail: str, *, backend: str, retry_after: float) -> None:
        super().__init__(detail, backend=backend, retry_after=retry_after)


class CircuitOpen(UpstreamUnavailable):
    code = "circuit_open"
    title = "The backend system is failing; calls are paused"

    def __init__(self, detail: str, *, backend: str, retry_after: float) -> None:
        super().__init__(detail, backend=backend, retry_after=retry_after)


class CallerCircuitOpen(CircuitOpen):
    """The calls of this principal alone keep failing at the backend: they are paused, not others'."""

    code = "caller_circuit_open"
    title = "Your calls to this backend keep failing; yours are paused"


class UpstreamContractError(UpstreamError):
    """The backend answered, but not in the shape the tool promises (its `output` schema)."""

    code = "upstream_contract"
    title = "The backend's answer broke the tool's contract"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"
    title = "The backend system did not answer in time"


__all__ = [
    "PROBLEM_TYPE_PREFIX",
    "AccessDenied",
    "ArgumentProblem",
    "AuthenticationError",
    "BudgetExceeded",
    "CallerCircuitOpen",
    "CircuitOpen",
    "ConfigError",
    "ConfigProblem",
    "CursorExpired",
    "EventRefused",
    "EventSourceNotFound",
    "IdempotencyConflict",
    "InvalidArguments",
    "InvalidRequest",
    "PasarelaError",
    "QuotaExceeded",
    "RateLimited",
    "RequestTooLarge",
    "StartupError",
    "Throttled",
    "ToolNotFound",
    "ToolQuarantined",
    "UpstreamContractError",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]
