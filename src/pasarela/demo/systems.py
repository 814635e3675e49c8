"""The demo bank's backend systems: a CRM and a ticketing service, each its own HTTP server
with its own SQLite data and its own credential (which only the gateway holds).

    python -m pasarela.demo.systems crm --port 9101 --db crm.db        (token from DEMO_SYSTEM_TOKEN)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hmac
import os
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CUSTOMERS = [
    ("12345", "John", "Doe", "john.doe@example.com", "+44 20 7946 0001", "EU", "retail", "2014-03-02"),
    (
        "23456",
        "Maria",
        "Garcia",
        "maria.garcia@example.com",
        "+34 91 555 0102",
        "EU",
        "private",
        "2009-11-17",
    ),
    ("34567", "Wei", "Chen", "wei.chen@example.com", "+65 6555 0103", "APAC", "business", "2018-06-25"),
    ("45678", "Amara", "Okafor", "amara.okafor@example.com", "+1 212 555 0104", "US", "retail", "2021-01-09"),
    (
        "56789",
        "Johanna",
        "Doerr",
        "johanna.doerr@example.com",
        "+49 30 555 0105",
        "EU",
        "retail",
        "2016-08-30",
    ),
]
ACCOUNTS = [
    ("ACC-1001", "12345", "checking", "EUR", 2450.75, "active"),
    ("ACC-1002", "12345", "savings", "EUR", 15230.00, "active"),
    ("ACC-1003", "12345", "credit_card", "EUR", -312.40, "active"),
    ("ACC-2001", "23456", "checking", "EUR", 98200.10, "active"),
    ("ACC-3001", "34567", "checking", "SGD", 40210.00, "active"),
    ("ACC-3002", "34567", "savings", "SGD", 5000.00, "frozen"),
    ("ACC-4001", "45678", "checking", "USD", 830.55, "active"),
    ("ACC-5001", "56789", "checking", "EUR", 1200.00, "active"),
]


@contextmanager
def _db(path: str) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, timeout=5)
    connection.row_factory = sqlite3.Row
    try:
        yield connection
        connection.commit()
    finally:
        connection.close()


def _spec(name: str, base_url: str) -> dict[str, Any]:
    text = resources.files("pasarela.demo").joinpath("specs", f"{name}.yaml").read_text(encoding="utf-8")
    spec: dict[str, Any] = yaml.safe_load(text)
    spec["servers"] = [{"url": base_url}]
    return spec


def _guarded(check: Callable[[Request], bool], endpoint: Callable[[Request], Response]) -> Callable[..., Any]:
    def guarded(request: Request) -> Response:
        if not check(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return endpoint(request)

    return guarded


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def create_crm_app(db_path: str, api_key: str, base_url: str) -> Starlette:
    with _db(db_path) as db:
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS customers (customer_id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT,
              email TEXT, phone TEXT, region TEXT, segment TEXT, customer_since TEXT);
            CREATE TABLE IF NOT EXISTS accounts (account_id TEXT PRIMARY KEY, customer_id TEXT, type TEXT,
              currency TEXT, balance REAL, status TEXT);
            """
        )
        db.executemany("INSERT OR IGNORE INTO customers VALUES (?,?,?,?,?,?,?,?)", CUSTOMERS)
        db.executemany("INSERT OR IGNORE INTO accounts VALUES (?,?,?,?,?,?)", ACCOUNTS)

    def authorized(request: Request) -> bool:
        return _same(request.headers.get("x-api-key"), api_key)

    def get_customer(request: Request) -> Response:
        # `region`, when given, must be the customer's: the CRM itself enforces the scope asked for.
        region = request.query_params.get("region")
        with _db(db_path) as db:
            row = db.execute(
                "SELECT * FROM customers WHERE customer_id = ? AND (? IS NULL OR region = ?)",
                (request.path_params["customer_id"], region, region),
            ).fetchone()
        if row is None:
            return JSONResponse({"error": "no such customer"}, status_code=404)
        return JSONResponse(dict(row))

    def search_customers(request: Request) -> Response:
        name = request.query_params.get("name", "")
        limit = min(int(request.query_params.get("limit", "10") or 10), 50)
        pattern = f"%{name.lower()}%"
        region = request.query_params.get("region")
        with _db(db_path) as db:
            rows = db.execute(
                "SELECT * FROM customers WHERE (lower(first_name) LIKE ? OR lower(last_name) LIKE ?"
                " OR lower(first_name || ' ' || last_name) LIKE ?) AND (? IS NULL OR region = ?)"
                " ORDER BY customer_id LIMIT ?",
                (pattern, pattern, pattern, region, region, limit),
            ).fetchall()
        return JSONResponse({"customers": [dict(r) for r in rows]})

    def list_accounts(request: Request) -> Response:
        customer_id = request.path_params["customer_id"]
        with _db(db_path) as db:
            if db.execute("SELECT 1 FROM customers WHERE customer_id = ?", (customer_id,)).fetchone() is None:
                return JSONResponse({"error": "no such customer"}, status_code=404)
            rows = db.execute(
                "SELECT * FROM accounts WHERE customer_id = ? ORDER BY account_id", (customer_id,)
            ).fetchall()
        return JSONResponse({"accounts": [dict(r) for r in rows]})

    spec = _spec("crm", base_url)
    return Starlette(
        routes=[
            Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
            Route("/openapi.json", lambda r: JSONResponse(spec)),
            Route("/customers", _guarded(authorized, search_customers)),
            Route("/customers/{customer_id}", _guarded(authorized, get_customer)),
            Route("/customers/{customer_id}/accounts", _guarded(authorized, list_accounts)),
        ]
    )


def create_ticketing_app(db_path: str, token: str, base_url: str) -> Starlette:
    with _db(db_path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS tickets (ticket_id TEXT PRIMARY KEY, title TEXT, description TEXT,"
            " priority TEXT, status TEXT, created_at TEXT)"
        )

    def authorized(request: Request) -> bool:
        return _same(request.headers.get("authorization"), f"Bearer {token}")

    def list_tickets(status: str | None, limit: int) -> list[dict[str, Any]]:
        query, params = "SELECT * FROM tickets", []
        if status:
            query, params = query + " WHERE status = ?", [status]
        with _db(db_path) as db:
            rows = db.execute(query + " ORDER BY created_at DESC LIMIT ?", (*params, limit)).fetchall()
        return [dict(r) for r in rows]

    def insert_ticket(ticket: dict[str, Any]) -> None:
        with _db(db_path) as db:
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
        with _db(db_path) as db:
            row = db.execute(
                "SELECT * FROM tickets WHERE ticket_id = ?", (request.path_params["ticket_id"],)
            ).fetchone()
        if row is None:
            return JSONResponse({"error": "no such ticket"}, status_code=404)
        return JSONResponse(dict(row))

    spec = _spec("ticketing", base_url)
    return Starlette(
        routes=[
            Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
            Route("/openapi.json", lambda r: JSONResponse(spec)),
            Route("/tickets", tickets, methods=["GET", "POST"]),
            Route("/tickets/{ticket_id}", _guarded(authorized, get_ticket)),
        ]
    )


def _exit_with_parent() -> None:
    """Stop when the process that started us is gone, so no demo system is ever left behind."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pasarela.demo.systems")
    parser.add_argument("system", choices=["crm", "ticketing"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args(argv)
    token = os.environ.get("DEMO_SYSTEM_TOKEN")
    if not token:
        sys.exit("DEMO_SYSTEM_TOKEN must hold the credential this system accepts")
    base_url = f"http://127.0.0.1:{args.port}"
    factory = create_crm_app if args.system == "crm" else create_ticketing_app
    app = factory(args.db, token, base_url)
    _exit_with_parent()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
