"""The demo CRM (REST/OpenAPI): customers and their contact details, read and updated by the
gateway with the CRM's own key. A change is told to the gateway as a signed `customer_updated`
webhook (crm_events.py), so agents subscribed to it, and caches holding the customer, hear of it.

Reads and updates take the customer's `region`: the CRM itself answers 404 for a customer of
another region, whatever the gateway's policies said."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pasarela.demo.common import connect, guarded, openapi_spec, same
from pasarela.demo.crm_events import ChangeEmitter

# id, first name, last name, email, phone, region, segment, customer since, address
CUSTOMERS = [
    (
        "12345",
        "John",
        "Doe",
        "john.doe@example.com",
        "+44 20 7946 0001",
        "EU",
        "retail",
        "2014-03-02",
        "1 Fleet Street, London",
    ),
    (
        "23456",
        "Maria",
        "Garcia",
        "maria.garcia@example.com",
        "+34 91 555 0102",
        "EU",
        "private",
        "2009-11-17",
        "Calle Mayor 5, Madrid",
    ),
    (
        "34567",
        "Wei",
        "Chen",
        "wei.chen@example.com",
        "+65 6555 0103",
        "APAC",
        "business",
        "2018-06-25",
        "8 Marina Bay, Singapore",
    ),
    (
        "45678",
        "Amara",
        "Okafor",
        "amara.okafor@example.com",
        "+1 212 555 0104",
        "US",
        "retail",
        "2021-01-09",
        "350 5th Ave, New York",
    ),
    (
        "56789",
        "Johanna",
        "Doerr",
        "johanna.doerr@example.com",
        "+49 30 555 0105",
        "EU",
        "retail",
        "2016-08-30",
        "Unter den Linden 10, Berlin",
    ),
]
CONTACT_FIELDS = ("phone", "email", "address")  # what update_customer_contact may change
MAX_FIELD = 200


def _prepare(db_path: str) -> None:
    with connect(db_path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS customers (customer_id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT,"
            " email TEXT, phone TEXT, region TEXT, segment TEXT, customer_since TEXT, address TEXT)"
        )
        columns = {row[1] for row in db.execute("PRAGMA table_info(customers)")}
        if "address" not in columns:  # a data directory from before addresses
            db.execute("ALTER TABLE customers ADD COLUMN address TEXT")
        db.executemany(
            "INSERT OR IGNORE INTO customers (customer_id, first_name, last_name, email, phone, region,"
            " segment, customer_since, address) VALUES (?,?,?,?,?,?,?,?,?)",
            CUSTOMERS,
        )


def create_crm_app(db_path: str, api_key: str, base_url: str) -> Starlette:
    _prepare(db_path)
    emitter = ChangeEmitter(
        db_path, os.environ.get("DEMO_EVENTS_URL") or None, os.environ.get("DEMO_EVENTS_SECRET") or None
    )

    def authorized(request: Request) -> bool:
        return same(request.headers.get("x-api-key"), api_key)

    def get_customer(request: Request) -> Response:
        # `region`, when given, must be the customer's: the CRM itself enforces the scope asked for.
        region = request.query_params.get("region")
        with connect(db_path) as db:
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
        with connect(db_path) as db:
            rows = db.execute(
                "SELECT * FROM customers WHERE (lower(first_name) LIKE ? OR lower(last_name) LIKE ?"
                " OR lower(first_name || ' ' || last_name) LIKE ?) AND (? IS NULL OR region = ?)"
                " ORDER BY customer_id LIMIT ?",
                (pattern, pattern, pattern, region, region, limit),
            ).fetchall()
        return JSONResponse({"customers": [dict(r) for r in rows]})

    def update(customer_id: str, region: str, changes: dict[str, str]) -> dict[str, object] | None:
        with connect(db_path) as db:  # one transaction: the change and its event
            row = db.execute(
                "SELECT * FROM customers WHERE customer_id = ? AND region = ?", (customer_id, region)
            ).fetchone()
            if row is None:
                return None
            changed = [name for name in CONTACT_FIELDS if name in changes and changes[name] != row[name]]
            if changed:
                assignments = ", ".join(f"{name} = ?" for name in changed)
                db.execute(
                    f"UPDATE customers SET {assignments} WHERE customer_id = ?",  # noqa: S608 - names from CONTACT_FIELDS
                    (*(changes[name] for name in changed), customer_id),
                )
                emitter.record(db, customer_id, region, changed)
            updated = dict(
                db.execute("SELECT * FROM customers WHERE customer_id = ?", (customer_id,)).fetchone()
            )
        return {**updated, "changed_fields": changed}

    async def update_contact(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        region = request.query_params.get("region")
        if not region:
            return JSONResponse({"error": "region is required: the customer's region"}, status_code=400)
        try:
            body = await request.json() if await request.body() else {}  # no body: nothing to change
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be an object"}, status_code=400)
        changes = {name: body[name] for name in CONTACT_FIELDS if body.get(name) is not None}
        unknown = sorted(set(body) - set(CONTACT_FIELDS))
        if unknown or not changes:
            return JSONResponse(
                {
                    "error": f"give one or more of {', '.join(CONTACT_FIELDS)}"
                    + (f"; not {unknown}" if unknown else "")
                },
                status_code=400,
            )
        bad = [n for n, v in changes.items() if not isinstance(v, str) or not 0 < len(v) <= MAX_FIELD]
        if bad:
            return JSONResponse(
                {"error": f"{bad[0]}: a text of 1 to {MAX_FIELD} characters"}, status_code=400
            )
        updated = await run_in_threadpool(update, request.path_params["customer_id"], region, changes)
        if updated is None:
            return JSONResponse({"error": "no such customer"}, status_code=404)
        emitter.wake()
        return JSONResponse(updated)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            group.start_soon(emitter.run)
            yield
            group.cancel_scope.cancel()

    spec = openapi_spec("crm.yaml", base_url)
    return Starlette(
        routes=[
            Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
            Route("/openapi.json", lambda r: JSONResponse(spec)),
            Route("/customers", guarded(authorized, search_customers)),
            Route("/customers/{customer_id}", guarded(authorized, get_customer), methods=["GET"]),
            Route("/customers/{customer_id}", update_contact, methods=["PATCH"]),
        ],
        lifespan=lifespan,
    )
