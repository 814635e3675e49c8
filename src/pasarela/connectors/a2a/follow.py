"""Following an A2A task to its end, within the call's time, relaying its status as progress.

An agent answers a message at once (a message, or a task already finished) or with a task that
goes on (`submitted`, `working`). With streaming, the task's events arrive on the same answer;
without, the task is asked for (`tasks/get`) every `poll_interval`. A stream that ends before
the task does is followed by polling. Each new status (its state and its message's text) is
passed to `Invocation.progress` (the fraction is 1 once completed, else unknown), which a job records and an MCP client with a progress token
sees. A task the gateway stops following before it ends — out of time, cancelled, or stopped to
ask for input — is canceled at the agent, so no work is left running for a caller who has gone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import anyio
import httpx
import structlog

from a2a.client import Client, ClientCallContext
from a2a.types import (
    Artifact,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
)
from a2a.utils.errors import A2AError
from pasarela.connectors.a2a.errors import state_name
from pasarela.connectors.a2a.messages import text_of
from pasarela.errors import UpstreamError

log = structlog.get_logger("pasarela.a2a")

TERMINAL = frozenset(
    {
        TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_CANCELED,
        TaskState.TASK_STATE_REJECTED,
    }
)
INTERRUPTED = frozenset({TaskState.TASK_STATE_INPUT_REQUIRED, TaskState.TASK_STATE_AUTH_REQUIRED})
CANCEL_WITHIN = 2.0  # seconds a courtesy cancel may take, even after the call's own time is up

Progress = Callable[[float | None, str | None], Awaitable[None]]


@dataclass(slots=True)
class Tracked:
    """What is known of the answer so far: a message, or a task built up from its events."""

    message: Message | None = None
    task: Task | None = None
    _reported: tuple[int, str] | None = field(default=None, repr=False)

    @property
    def state(self) -> int | None:
        return None if self.task is None else self.task.status.state

    @property
    def stopped(self) -> bool:
        """The agent has nothing more to say without being asked again."""
        return self.message is not None or (self.task is not None and self.state in TERMINAL | INTERRUPTED)

    def apply(self, event: StreamResponse) -> None:
        kind = event.WhichOneof("payload")
        if kind == "message":
            self.message = event.message
        elif kind == "task":
            self.task = event.task
        elif kind == "status_update":
            self._task(event.status_update.task_id, event.status_update.context_id)
            assert self.task is not None
            self.task.status.CopyFrom(event.status_update.status)
        elif kind == "artifact_update":
            update = event.artifact_update
            self._task(update.task_id, update.context_id)
            assert self.task is not None
            self._artifact(self.task, update.artifact, update.append)

    def _task(self, task_id: str, context_id: str) -> None:
        if self.task is None:  # an update before the task itself: start from its ids
            self.task = Task(id=task_id, context_id=context_id)

    @staticmethod
    def _artifact(task: Task, artifact: Artifact, append: bool) -> None:
        for existing in task.artifacts:
            if existing.artifact_id == artifact.artifact_id:
                if append:
                    existing.parts.extend(artifact.parts)
                else:
                    existing.CopyFrom(artifact)
                return
        task.artifacts.add().CopyFrom(artifact)

    def news(self) -> str | None:
        """The status as progress text, if it changed since last asked."""
        if self.task is None:
            return None
        text = text_of(self.task.status.message.parts)
        current = (self.state or 0, text)
        if current == self._reported:
            return None
        self._reported = current
        return text or state_name(current[0])


class Follower:
    """Sends one message and follows what it starts, over one agent's client."""

    def __init__(self, client: Client, backend: str, poll_interval: float) -> None:
        self.client = client
        self.backend = backend
        self.poll_interval = poll_interval

    async def run(
        self,
        request: SendMessageRequest,
        tracked: Tracked,
        context: Callable[[], ClientCallContext],
        progress: Progress | None,
    ) -> None:
        """Until the agent stops (`tracked.stopped`); raises what the SDK raises."""
        events = self.client.send_message(request, context=context())
        try:
            async for event in events:
                tracked.apply(event)
                await _report(tracked, progress)
                if tracked.stopped:
                    return
        finally:  # a stream left early is closed now, not whenever it is collected
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
        while not tracked.stopped:
            if tracked.task is None:
                raise UpstreamError(
                    f"{self.backend} answered with neither a message nor a task", backend=self.backend
                )
            await anyio.sleep(self.poll_interval)
            known = tracked.task
            found = await self.client.get_task(GetTaskRequest(id=known.id), context=context())
            if not found.artifacts and known.artifacts:  # an agent that does not repeat what it streamed
                found.artifacts.extend(known.artifacts)
            tracked.task = found
            await _report(tracked, progress)

    async def cancel(self, task_id: str, headers: Mapping[str, str]) -> None:
        """Ask the agent to stop a task no one waits for any more; never raises, never waits long."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_WITHIN):
            try:
                await self.client.cancel_task(
                    CancelTaskRequest(id=task_id),
                    context=ClientCallContext(timeout=CANCEL_WITHIN, service_parameters=dict(headers)),
                )
                log.info("a2a_task_canceled", backend=self.backend, task=task_id)
            except (A2AError, httpx.HTTPError, ValueError) as exc:
                log.info("a2a_cancel_failed", backend=self.backend, task=task_id, error=type(exc).__name__)


async def _report(tracked: Tracked, progress: Progress | None) -> None:
    if progress is None:
        return
    news = tracked.news()
    if news is not None:
        # A2A says nothing of how far along a task is, only when it is done.
        await progress(1.0 if tracked.state == TaskState.TASK_STATE_COMPLETED else None, news)
