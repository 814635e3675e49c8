"""The demo bank's loan system: a GraphQL service (graphql-core) over its own SQLite data.

Introspection is on, so the gateway learns the schema from the service itself. Every
request needs the bearer token only the gateway holds.
"""

from __future__ import annotations

from typing import Any

from graphql import build_schema, graphql_sync
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pasarela.demo.common import connect, same

SDL = '''
"""A loan held by a customer of the bank"""
type Loan {
  id: ID!
  customerId: ID!
  product: LoanProduct!
  "The amount lent"
  principal: Float!
  "What is still owed"
  outstanding: Float!
  currency: String!
  status: LoanStatus!
  "Days since the oldest unpaid instalment fell due (0 when none is late)"
  daysPastDue: Int!
  "The next instalment, if any is left"
  nextPayment: Payment
  "The borrower's region (EU, US, APAC)"
  region: String
}
"""A customer's loans, and whose they are"""
type CustomerLoans {
  customerId: ID!
  "The customer's region (EU, US, APAC); null for a customer the bank does not know"
  region: String
  loans: [Loan!]!
}
type Payment { due: String! amount: Float! }
enum LoanProduct { MORTGAGE PERSONAL AUTO CREDIT_LINE }
enum LoanStatus { CURRENT IN_ARREARS DEFAULTED PAID_OFF }
type Query {
  "A customer's loans, newest first"
  loans(customerId: ID!): CustomerLoans!
  "One loan by its id"
  loan(id: ID!): Loan
}
'''
SCHEMA = build_schema(SDL)
# id, customer, product, principal, outstanding, currency, status, days past due, next due, next amount
LOANS = [
    ("L-9001", "12345", "MORTGAGE", 250000.0, 182340.55, "EUR", "CURRENT", 0, "2026-12-01", 1150.0),
    ("L-9002", "12345", "PERSONAL", 12000.0, 4210.80, "EUR", "CURRENT", 0, "2026-12-05", 355.2),
    ("L-9101", "34567", "AUTO", 38000.0, 21877.10, "SGD", "IN_ARREARS", 45, "2026-10-08", 690.0),
    ("L-9201", "23456", "CREDIT_LINE", 50000.0, 0.0, "EUR", "PAID_OFF", 0, None, None),
    ("L-9301", "45678", "PERSONAL", 5000.0, 5120.33, "USD", "DEFAULTED", 212, "2026-04-24", 160.0),
]

# Whose loans these are: the region of each customer, as the loan system records it.
CUSTOMER_REGIONS = [("12345", "EU"), ("23456", "EU"), ("34567", "APAC"), ("45678", "US"), ("56789", "EU")]


def _loan(row: Any) -> dict[str, Any]:
    next_payment = (
        {"due": row["next_due"], "amount": row["next_amount"]} if row["next_due"] is not None else None
    )
    return {
        "id": row["loan_id"],
        "customerId": row["customer_id"],
        "product": row["product"],
        "principal": row["principal"],
        "outstanding": row["outstanding"],
        "currency": row["currency"],
        "status": row["status"],
        "daysPastDue": row["days_past_due"],
        "nextPayment": next_payment,
        "region": row["region"],
    }


def create_loans_app(db_path: str, token: str, base_url: str) -> Starlette:
    with connect(db_path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS loans (loan_id TEXT PRIMARY KEY, customer_id TEXT, product TEXT,"
            " principal REAL, outstanding REAL, currency TEXT, status TEXT, days_past_due INTEGER,"
            " next_due TEXT, next_amount REAL)"
        )
        db.executemany("INSERT OR IGNORE INTO loans VALUES (?,?,?,?,?,?,?,?,?,?)", LOANS)
        # A table of its own, so a database from an earlier run gains it too.
        db.execute("CREATE TABLE IF NOT EXISTS customers (customer_id TEXT PRIMARY KEY, region TEXT)")
        db.executemany("INSERT OR IGNORE INTO customers VALUES (?,?)", CUSTOMER_REGIONS)

    def query(sql: str, *params: Any) -> list[dict[str, Any]]:
        with connect(db_path) as db:
            return [_loan(row) for row in db.execute(sql, params).fetchall()]

    def region(customer: str) -> str | None:
        with connect(db_path) as db:
            row = db.execute("SELECT region FROM customers WHERE customer_id = ?", (customer,)).fetchone()
        return None if row is None else str(row["region"])

    with_region = "SELECT l.*, c.region FROM loans l LEFT JOIN customers c USING (customer_id)"

    class Root:
        def loans(self, info: Any, customerId: str) -> dict[str, Any]:
            found = query(f"{with_region} WHERE l.customer_id = ? ORDER BY loan_id DESC", customerId)
            return {"customerId": customerId, "region": region(customerId), "loans": found}

        def loan(self, info: Any, id: str) -> dict[str, Any] | None:
            found = query(f"{with_region} WHERE loan_id = ?", id)
            return found[0] if found else None

    async def endpoint(request: Request) -> JSONResponse:
        if not same(request.headers.get("authorization"), f"Bearer {token}"):
            return JSONResponse({"errors": [{"message": "unauthorized"}]}, status_code=401)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return JSONResponse({"errors": [{"message": "expected {query, variables}"}]}, status_code=400)
        variables = body.get("variables") if isinstance(body.get("variables"), dict) else None
        # Resolvers read SQLite (blocking): execute off the event loop.
        result = await run_in_threadpool(
            graphql_sync, SCHEMA, body["query"], root_value=Root(), variable_values=variables
        )
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        return JSONResponse(payload)

    return Starlette(
        routes=[
            Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
            Route("/graphql", endpoint, methods=["POST"]),
        ]
    )
