"""The demo bank's product advisor: an A2A agent (a2a-sdk) with one rule-based skill.

It publishes its agent card at `/.well-known/agent-card.json` (public, as A2A expects) and takes
messages over JSON-RPC at `/a2a` with the bearer token only the gateway holds. Each question
becomes a task whose progress it streams — reading the profile, checking the products — before
the recommendation arrives as an artifact (JSON and words). A profile too thin to advise on is
asked back (input-required). Its products are its own SQLite data.

    python -m pasarela.demo.systems product_advisor --port 9110 --db advisor.db   (token from DEMO_SYSTEM_TOKEN)
"""

from __future__ import annotations

import asyncio
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
    AgentProvider,
    AgentSkill,
    HTTPAuthSecurityScheme,
    Message,
    SecurityRequirement,
    SecurityScheme,
    StringList,
    TaskState,
)
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pasarela.demo.advisor_rules import PRODUCTS, advise, missing, read_profile, summary
from pasarela.demo.common import connect, same

STEP_SECONDS = 0.2  # enough to see the progress, short enough not to keep anyone waiting
SKILL = AgentSkill(
    id="recommend_loan_product",
    name="Recommend a loan product",
    description=(
        "Given a customer profile — what the loan is for (home, car, personal), the amount, the term, "
        "the yearly income, the credit score and the segment (RETAIL, PRIVATE, BUSINESS) — names the "
        "bank's loan product that fits, why, the largest amount the bank would consider, and what to "
        "do next. Send the profile in words, or as JSON fields purpose, amount, term_months, "
        "annual_income, credit_score, segment."
    ),
    tags=["loans", "products", "advice"],
    examples=[
        "Which loan fits a retail customer earning 48,000 a year who wants 25,000 for a car over 5 years, credit score 720?",
        "A private-banking customer with an income of 150k wants to borrow 400,000 for a home over 25 years.",
    ],
    input_modes=["text/plain", "application/json"],
    output_modes=["text/plain", "application/json"],
)


def advisor_card(base_url: str) -> AgentCard:
    card = AgentCard(
        name="Product Advisor",
        description="Which of the bank's loan products fits a customer profile, and why (rule-based).",
        version="1.0.0",
        provider=AgentProvider(organization="Pasarela demo bank", url=base_url),
        supported_interfaces=[
            AgentInterface(url=f"{base_url}/a2a", protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/plain", "application/json"],
        skills=[SKILL],
    )
    card.security_schemes["bearer"].CopyFrom(
        SecurityScheme(http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="Bearer"))
    )
    card.security_requirements.append(SecurityRequirement(schemes={"bearer": StringList()}))
    return card


class AdvisorExecutor(AgentExecutor):
    def __init__(self, db_path: str) -> None:
        self.db_path = db_path

    def products(self) -> list[tuple[Any, ...]]:
        with connect(self.db_path) as db:
            return [tuple(row) for row in db.execute("SELECT * FROM products ORDER BY rowid")]

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        data: dict[str, Any] = {}
        for part in context.message.parts:
            if part.WhichOneof("content") == "data" and isinstance(found := MessageToDict(part.data), dict):
                data.update(found)
        task = context.current_task or new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)

        def say(words: str) -> Message:
            return updater.new_agent_message([new_text_part(words)])

        await updater.start_work(say("Reading the customer profile"))
        await asyncio.sleep(STEP_SECONDS)
        profile = read_profile(context.get_user_input(), data)
        if (question := missing(profile)) is not None:
            await updater.requires_input(say(question))
            return
        products = self.products()
        await updater.update_status(
            TaskState.TASK_STATE_WORKING, say(f"Checking {len(products)} loan products against the profile")
        )
        await asyncio.sleep(STEP_SECONDS)
        advice = advise(profile, products)
        await updater.add_artifact([new_data_part(advice)], name="recommendation")
        await updater.complete(say(summary(advice)))  # the words; the artifact holds the facts

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id is not None:
            await TaskUpdater(event_queue, context.task_id, context.context_id or "").cancel()


class BearerOnly:
    """Every message needs the gateway's token; the card and the health check are public."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            given = dict(scope["headers"]).get(b"authorization", b"").decode(errors="replace")
            if not same(given, f"Bearer {self.token}"):
                await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_advisor_app(db_path: str, token: str, base_url: str) -> ASGIApp:
    with connect(db_path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS products (product_id TEXT PRIMARY KEY, name TEXT, purpose TEXT,"
            " min_amount INTEGER, max_amount INTEGER, max_term_months INTEGER, income_multiple REAL, min_score INTEGER)"
        )
        db.executemany("INSERT OR IGNORE INTO products VALUES (?,?,?,?,?,?,?,?)", PRODUCTS)
    card = advisor_card(base_url)
    handler = DefaultRequestHandler(
        agent_executor=AdvisorExecutor(db_path), task_store=InMemoryTaskStore(), agent_card=card
    )
    routes = [
        Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
        *create_agent_card_routes(card),
        *create_jsonrpc_routes(handler, "/a2a"),
    ]
    return BearerOnly(Starlette(routes=routes), token)
