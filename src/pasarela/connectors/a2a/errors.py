"""What goes wrong talking to an agent → the gateway's error tree.

Two families: the protocol's (an HTTP status, a JSON-RPC error, a timeout, a lost connection —
raised by the SDK) and the task's (the agent answered, and the task failed, was rejected or
stopped to ask for input or authorization). Texts from the agent are cut short and every known
secret masked before they reach a problem document.
"""

from __future__ import annotations

from typing import Any

import httpx

from a2a.client.errors import A2AClientTimeoutError
from a2a.types import TaskState
from a2a.utils import errors as a2a_errors
from pasarela.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from pasarela.secrets import Redactor

MAX_AGENT_TEXT = 500
# The agent refused the request as it stands (like a 4xx): nothing about its health, so the
# breaker does not count them.
REFUSALS: tuple[type[a2a_errors.A2AError], ...] = (
    a2a_errors.InvalidParamsError,
    a2a_errors.InvalidRequestError,
    a2a_errors.MethodNotFoundError,
    a2a_errors.JSONParseError,
    a2a_errors.ContentTypeNotSupportedError,
    a2a_errors.UnsupportedOperationError,
    a2a_errors.VersionNotSupportedError,
    a2a_errors.ExtensionSupportRequiredError,
    a2a_errors.TaskNotFoundError,
    a2a_errors.TaskNotCancelableError,
    a2a_errors.PushNotificationNotSupportedError,
)
STATE_NAMES: dict[int, str] = {
    TaskState.TASK_STATE_SUBMITTED: "submitted",
    TaskState.TASK_STATE_WORKING: "working",
    TaskState.TASK_STATE_COMPLETED: "completed",
    TaskState.TASK_STATE_FAILED: "failed",
    TaskState.TASK_STATE_CANCELED: "canceled",
    TaskState.TASK_STATE_INPUT_REQUIRED: "input-required",
    TaskState.TASK_STATE_REJECTED: "rejected",
    TaskState.TASK_STATE_AUTH_REQUIRED: "auth-required",
}


def state_name(state: int) -> str:
    return STATE_NAMES.get(state, "unknown")


def http_status(exc: BaseException) -> httpx.Response | None:
    """The HTTP answer behind an SDK error, if there was one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.HTTPStatusError):
            return seen.response
        seen = seen.__cause__ or seen.__context__
    return None


def connection_lost(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.TransportError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class ErrorMapper:
    """Turns the SDK's exceptions and the task's final states into problem documents."""

    def __init__(self, backend: str, redactor: Redactor) -> None:
        self.backend = backend
        self.redactor = redactor

    def said(self, text: str) -> str:
        return self.redactor.excerpt(text, MAX_AGENT_TEXT)

    def timeout(self, tool: str, limit: float, task_id: str | None) -> UpstreamTimeout:
        extra: dict[str, Any] = {"a2a_task_id": task_id} if task_id else {}
        return UpstreamTimeout(
            f"{self.backend} did not finish {tool} within {limit:g}s"
            + ("; its task was canceled" if task_id else ""),
            backend=self.backend,
            **extra,
        )

    def protocol(self, tool: str, exc: Exception, limit: float, task_id: str | None) -> UpstreamError:
        """An exception from the SDK (raised while sending, streaming, polling)."""
        if isinstance(exc, A2AClientTimeoutError):
            return self.timeout(tool, limit, task_id)
        response = http_status(exc)
        if response is not None:
            return self._http(tool, response)
        if isinstance(exc, REFUSALS):
            return UpstreamError(
                f"{self.backend} refused {tool} ({type(exc).__name__}): {self.said(str(exc))}",
                backend=self.backend,
                request_refused=True,
                a2a_error=type(exc).__name__,
            )
        if connection_lost(exc):
            return UpstreamUnavailable(
                f"{self.backend} cannot be reached ({type(exc.__cause__ or exc).__name__})",
                backend=self.backend,
            )
        if isinstance(exc, a2a_errors.A2AError):
            return UpstreamError(
                f"{self.backend} failed {tool} ({type(exc).__name__}): {self.said(str(exc))}",
                backend=self.backend,
                a2a_error=type(exc).__name__,
            )
        # The SDK could not read the answer as A2A (neither a task nor a message, bad JSON).
        return UpstreamError(
            f"{self.backend} answered {tool} with something that is not A2A: {self.said(str(exc))}",
            backend=self.backend,
        )

    def _http(self, tool: str, response: httpx.Response) -> UpstreamError:
        status = response.status_code
        if status in (401, 403):
            # The agent refused the *gateway's own* credential: an operator's problem, never the caller's.
            return UpstreamError(
                f"{self.backend} did not accept the gateway's own credential (backends.{self.backend}.auth, "
                f"HTTP {status}); this is not about the caller's credentials",
                backend=self.backend,
                upstream_status=status,
                request_refused=True,
            )
        if status in (429, 502, 503, 504):
            return UpstreamUnavailable(
                f"{self.backend} is unavailable (HTTP {status})", backend=self.backend, upstream_status=status
            )
        try:
            body: dict[str, Any] = {"upstream_body": self.said(response.text)} if response.content else {}
        except httpx.ResponseNotRead:
            body = {}
        return UpstreamError(
            f"{self.backend} answered {tool} with HTTP {status}",
            backend=self.backend,
            upstream_status=status,
            request_refused=400 <= status < 500,
            **body,
        )

    def unfinished(self, tool: str, state: int, text: str, task_id: str) -> UpstreamError:
        """The task ended (or stopped) without completing."""
        said = self.said(text)
        extra: dict[str, Any] = {"a2a_state": state_name(state), "a2a_task_id": task_id} | (
            {"agent_message": said} if said else {}
        )
        quoted = f": {said}" if said else ""
        if state == TaskState.TASK_STATE_INPUT_REQUIRED:
            return UpstreamError(
                f"{self.backend} needs more input to answer {tool}{quoted} — call again with everything it "
                "needs in one message (each call is a new conversation)",
                backend=self.backend,
                request_refused=True,
                **extra,
            )
        if state == TaskState.TASK_STATE_AUTH_REQUIRED:
            return UpstreamError(
                f"{self.backend} asks for an authorization the gateway cannot give (auth-required){quoted}",
                backend=self.backend,
                request_refused=True,
                **extra,
            )
        if state == TaskState.TASK_STATE_REJECTED:
            return UpstreamError(
                f"{self.backend} rejected {tool}{quoted}", backend=self.backend, request_refused=True, **extra
            )
        if state == TaskState.TASK_STATE_CANCELED:
            return UpstreamError(f"{self.backend} canceled {tool}{quoted}", backend=self.backend, **extra)
        return UpstreamError(f"{self.backend} failed {tool}{quoted}", backend=self.backend, **extra)
