"""A real a2a-sdk agent for the tests: the "Desk" agent, rule-based, under uvicorn in a thread.

It speaks A2A 1.0 and, on the same endpoint, 0.3. What it does depends on the first word of the message:

    echo …       answers at once with a message (the text, and the data it was sent)
    slow N       a task: submitted, then N working steps, an artifact, completed
    fail         a task that fails (its message carries a known secret)
    ask          a task that stops to ask a question (input-required)
    authorize    a task that asks for an authorization (auth-required)
    reject       a task the agent rejects
    crash        the executor raises (a JSON-RPC internal error)
    forever      a task that works until canceled

Every call needs the bearer token only the gateway holds. The agent records what reached it
(text, data, headers) and which tasks were canceled; its card can be changed while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from a2a.helpers.proto_helpers import new_data_part, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    Message,
    Role,
    SecurityRequirement,
    SecurityScheme,
    StringList,
    TaskState,
)
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as Message_

from tests.helpers.gateway import BACKEND_TOKEN
from tests.helpers.servers import ThreadedServer, free_port

TOKEN = BACKEND_TOKEN  # ${secret:ITEMS_TOKEN} in the test configuration: a known secret
STEP = 0.05  # seconds between the steps of a slow task


def desk_card(url: str, *, streaming: bool = True, token: bool = True) -> AgentCard:
    card = AgentCard(
        name="Desk",
        description="The bank's back-office desk agent.",
        version="1.0.0",
        supported_interfaces=[AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")],
        capabilities=AgentCapabilities(streaming=streaming),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/plain", "application/json"],
        skills=[
            AgentSkill(
                id="echo",
                name="Echo",
                description="Repeats what it is told.",
                tags=["testing"],
                examples=["echo hello"],
            ),
            AgentSkill(id="reports", name="Reports", description="Prepares slow reports.", tags=["reports"]),
        ],
    )
    if token:
        card.security_schemes["bearer"].CopyFrom(
            SecurityScheme(http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="Bearer"))
        )
        card.security_requirements.append(SecurityRequirement(schemes={"bearer": StringList()}))
    return card


@dataclass
class Seen:
    text: str
    data: list[Any]
    headers: dict[str, str]


class DeskExecutor(AgentExecutor):
    def __init__(self, agent: DeskAgent) -> None:
        self.agent = agent

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        text = context.get_user_input()
        data = [MessageToDict(p.data) for p in context.message.parts if p.WhichOneof("content") == "data"]
        self.agent.messages.append(Seen(text, data, dict(self.agent.current_headers)))
        word, _, rest = text.partition(" ")
        if word == "crash":
            raise RuntimeError("the desk fell over")
        if word not in ("slow", "fail", "ask", "authorize", "reject", "forever"):
            reply = Message(role=Role.ROLE_AGENT, message_id=f"m-{len(self.agent.messages)}")
            reply.parts.append(new_text_part(f"echo: {text}"))
            for item in data:
                reply.parts.append(new_data_part(item))
            await event_queue.enqueue_event(reply)
            return
        task = context.current_task or new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)

        def say(words: str) -> Message:
            return updater.new_agent_message([new_text_part(words)])

        if word == "slow":
            steps = int(rest or 3)
            for step in range(1, steps + 1):
                await asyncio.sleep(STEP)
                await updater.update_status(TaskState.TASK_STATE_WORKING, say(f"step {step} of {steps}"))
            await updater.add_artifact(
                [new_text_part("the report"), new_data_part({"steps": steps, "total": 12.5})], name="report"
            )
            await updater.complete(say("done"))
        elif word == "fail":
            await updater.start_work(say("opening the ledger"))
            await updater.failed(say(f"the ledger is closed (token {TOKEN})"))
        elif word == "ask":
            await updater.requires_input(say("Which customer do you mean?"))
        elif word == "authorize":
            await updater.requires_auth(say("Sign in to the ledger first."))
        elif word == "reject":
            await updater.reject(say("I do not do transfers."))
        else:  # forever
            await updater.start_work(say("working on it"))
            await asyncio.sleep(3600)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id is not None:
            self.agent.canceled.append(context.task_id)
            updater = TaskUpdater(event_queue, context.task_id, context.context_id or "")
            await updater.cancel()


class _Guard:
    """The agent's own credential check, and a record of each call's headers."""

    def __init__(self, app: ASGIApp, agent: DeskAgent) -> None:
        self.app, self.agent = app, agent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            self.agent.current_headers = headers
            self.agent.calls += 1
            if headers.get("authorization") != f"Bearer {self.agent.token}":
                await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
                return
            receive = self._noting_the_method(receive)
        await self.app(scope, receive, send)

    def _noting_the_method(self, receive: Receive) -> Receive:
        async def noting() -> Message_:
            event = await receive()
            if event["type"] == "http.request":
                with contextlib.suppress(ValueError, AttributeError):
                    self.agent.methods.append(json.loads(event.get("body", b"") or b"{}").get("method"))
            return event

        return noting


@dataclass
class DeskAgent:
    streaming: bool = True
    token: str = TOKEN
    port: int = field(default_factory=free_port)
    messages: list[Seen] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)  # the JSON-RPC method of each call
    calls: int = 0
    current_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.card = desk_card(self.url + "/", streaming=self.streaming)
        handler = DefaultRequestHandler(
            agent_executor=DeskExecutor(self), task_store=InMemoryTaskStore(), agent_card=self.card
        )

        async def current(_: AgentCard) -> AgentCard:
            return self.card  # changed by the tests while the agent runs

        routes = create_agent_card_routes(self.card, card_modifier=current) + create_jsonrpc_routes(
            handler, "/", enable_v0_3_compat=True
        )
        self.app = Starlette(routes=routes)
        self.server = ThreadedServer(_Guard(self.app, self), self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def card_json(self) -> dict[str, Any]:
        return MessageToDict(self.card)

    def __enter__(self) -> DeskAgent:
        self.server.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.__exit__(kind, exc, tb)
