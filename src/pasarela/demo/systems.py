"""The demo bank's backend systems, each its own server with its own SQLite data and its own
credential (which only the gateway holds): a CRM (crm.py) and a ticketing service (REST/OpenAPI), core
banking (SOAP, core_banking.py), loans (GraphQL, loans.py), a credit bureau (REST) and a product
advisor (an A2A agent, advisor.py).

    python -m pasarela.demo.systems crm --port 9101 --db crm.db        (token from DEMO_SYSTEM_TOKEN)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import uuid
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from pasarela.demo.common import connect, exit_with_parent, guarded, openapi_spec, same
from pasarela.demo.core_banking import create_core_banking_app
from pasarela.demo.crm import CUSTOMERS, create_crm_app
from pasarela.demo.latency import Latency, latency_for
from pasarela.demo.loans import create_loans_app
from pasarela.demo.reports import create_reports_app
from pasarela.demo.webhook_receiver import create_webhook_receiver_app


def create_ticketing_app(db_path: str, token: str, base_url: str) -> Starlette:
    with connect(db_path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS tickets (ticket_id TEXT PRIMARY KEY, title TEXT, description TEXT,"
            " priority TEXT, status TEXT, created_at TEXT)"
        )

    def authorized(request: Request) -> bool:
        return same(request.headers.get("authorization"), f"Bearer {token}")

    def list_tickets(status: str | None, limit: int) -> list[dict[str, Any]]:
        query, params = "SELECT * FROM tickets", []
        if status:
            query, params = query + " WHERE status = ?", [status]
        with connect(db_path) as db:
            rows = db.execute(query + " ORDER BY created_at DESC LIMIT ?", (*params, limit)).fetchall()
        return [dict(r) for r in rows]

    def insert_ticket(ticket: dict[str, Any]) -> None:
        with connect(db_path) as db:
            db.execute(
                "INSERT INTO tickets VALUES (:ticket_id,:title,:description,:priority,:status,:created_at)",
                ticket,
            )

    async def tickets(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if request.method == "GET":
            status = request.query_params.get("status")
            limit = min(int(request.query_params.get("limit", "20") or 20), 100)
            return JSONResponse({"tickets": await run_in_threadpool(list_tickets, status, limit)})
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("title", "description")
        ):
            return JSONResponse({"error": "title and description are required"}, status_code=400)
        ticket = {
            "ticket_id": f"T-{uuid.uuid4().hex[:8].upper()}",
            "title": body["title"],
            "description": body["description"],
            "priority": body.get("priority", "medium"),
            "status": "open",
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        await run_in_threadpool(insert_ticket, ticket)
        return JSONResponse(ticket, status_code=201)

    def get_ticket(request: Request) -> Response:
        with connect(db_path) as db:
            row = db.execute(
                "SELECT * FROM tickets WHERE ticket_id = ?", (request.path_params["ticket_id"],)
            ).fetchone()
        if row is None:
            return JSONResponse({"error": "no such ticket"}, status_code=404)
        return JSONResponse(dict(row))

    async def page_on_call(request: Request) -> Response:
        """A critical problem pages the on-call team: an incident, not a queued ticket."""
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("title"), str):
            return JSONResponse({"error": "title is required"}, status_code=400)
        incident = {
            "ticket_id": f"INC-{uuid.uuid4().hex[:8].upper()}",
            "title": body["title"],
            "description": str(body.get("description", "")),
            "priority": "critical",
            "status": "in_progress",  # the on-call engineer is on it
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        await run_in_threadpool(insert_ticket, incident)
        return JSONResponse(incident, status_code=201)

    spec = openapi_spec("ticketing.yaml", base_url)
    return Starlette(
        routes=[
            Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
            Route("/openapi.json", lambda r: JSONResponse(spec)),
            Route("/incidents", page_on_call, methods=["POST"]),
            Route("/tickets", tickets, methods=["GET", "POST"]),
            Route("/tickets/{ticket_id}", guarded(authorized, get_ticket)),
        ]
    )


SCORES = {"12345": 742, "23456": 801, "34567": 688, "45678": 655, "56789": 719}


def _band(score: int) -> str:
    return (
        "excellent"
        if score >= 800
        else "very_good"
        if score >= 740
        else "good"
        if score >= 670
        else "fair"
        if score >= 580
        else "poor"
    )


def create_credit_bureau_app(db_path: str, api_key: str, base_url: str) -> Starlette:
    """A credit bureau: one score per customer (its region too, for result policies)."""
    regions = {c[0]: c[5] for c in CUSTOMERS}

    def authorized(request: Request) -> bool:
        return same(request.headers.get("x-bureau-key"), api_key)

    def get_score(request: Request) -> Response:
        customer = request.path_params["customer_id"]
        if customer not in SCORES:
            return JSONResponse({"error": "no score for this customer"}, status_code=404)
        score = SCORES[customer]
        return JSONResponse(
            {
                "customer_id": customer,
                "region": regions[customer],
                "score": score,
                "band": _band(score),
                "as_of": "2026-11-01",
            }
        )

    spec = openapi_spec("credit_bureau.yaml", base_url)
    return Starlette(
        routes=[
            Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
            Route("/openapi.json", lambda r: JSONResponse(spec)),
            Route("/scores/{customer_id}", guarded(authorized, get_score)),
        ]
    )


def create_product_advisor_app(db_path: str, token: str, base_url: str) -> ASGIApp:
    from pasarela.demo.advisor import create_advisor_app  # a2a-sdk only where the advisor runs

    return create_advisor_app(db_path, token, base_url)


FACTORIES: dict[str, Callable[[str, str, str], ASGIApp]] = {
    "crm": create_crm_app,
    "ticketing": create_ticketing_app,
    "core_banking": create_core_banking_app,
    "loans": create_loans_app,
    "credit_bureau": create_credit_bureau_app,
    "reports": create_reports_app,
    "webhook_receiver": create_webhook_receiver_app,
    "product_advisor": create_product_advisor_app,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pasarela.demo.systems")
    parser.add_argument("system", choices=sorted(FACTORIES))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args(argv)
    token = os.environ.get("DEMO_SYSTEM_TOKEN")
    if not token:
        sys.exit("DEMO_SYSTEM_TOKEN must hold the credential this system accepts")
    base_url = f"http://127.0.0.1:{args.port}"
    app: ASGIApp = FACTORIES[args.system](args.db, token, base_url)
    latency = latency_for(args.system, os.environ.get("PASARELA_DEMO_LATENCY"))
    if latency > 0:
        app = Latency(app, latency)
    exit_with_parent()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
