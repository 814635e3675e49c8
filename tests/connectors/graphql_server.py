"""A real GraphQL server for the connector tests: graphql-core executing a loans schema."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, build_schema, graphql
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SDL = '''
"""A loan of the bank"""
type Loan {
  id: ID!
  customerId: ID!
  amount: Float!
  status: LoanStatus!
  schedule: [Payment!]!
  officer: Officer
}
type Payment { due: String! amount: Float! paid: Boolean! }
type Officer { name: String! branch: Branch }
type Branch { city: String! manager: Officer }
enum LoanStatus { CURRENT LATE DEFAULTED }
input LoanInput { customerId: ID!, amount: Float!, months: Int = 12 }
type Query {
  "The loans of one customer"
  loans(customerId: ID!, status: LoanStatus): [Loan!]!
  loan(id: ID!): Loan
  "Fails, always"
  broken: Loan
  "A loan whose officer cannot be loaded"
  partial(id: ID!): Loan
  rate: Float!
}
type Mutation {
  "Open a loan"
  openLoan(input: LoanInput!): Loan!
}
'''
schema = build_schema(SDL)
LOANS: list[dict[str, Any]] = [
    {
        "id": "L-1",
        "customerId": "12345",
        "amount": 12000.0,
        "status": "CURRENT",
        "schedule": [{"due": "2026-12-01", "amount": 1000.0, "paid": False}],
        "officer": {"name": "Ana", "branch": {"city": "Madrid", "manager": None}},
    },
    {"id": "L-2", "customerId": "12345", "amount": 500.0, "status": "LATE", "schedule": [], "officer": None},
]
SEEN: list[dict[str, Any]] = []


def _officer_fails(*_: Any) -> None:
    raise GraphQLError("officer service unavailable")


class Root:
    def loans(self, info: Any, customerId: str, status: str | None = None) -> list[dict[str, Any]]:
        return [
            loan for loan in LOANS if loan["customerId"] == customerId and status in (None, loan["status"])
        ]

    def loan(self, info: Any, id: str) -> dict[str, Any] | None:
        return next((loan for loan in LOANS if loan["id"] == id), None)

    def broken(self, info: Any) -> None:
        raise GraphQLError("the loan system is down")

    def partial(self, info: Any, id: str) -> dict[str, Any]:
        loan = dict(LOANS[0], id=id)
        loan["officer"] = _officer_fails
        return loan

    def rate(self, info: Any) -> float:
        return 3.25

    def openLoan(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        loan = {
            "id": f"L-{len(LOANS) + 1}",
            "customerId": input["customerId"],
            "amount": input["amount"],
            "status": "CURRENT",
            "schedule": [],
            "officer": None,
        }
        LOANS.append(loan)
        return loan


async def endpoint(request: Request) -> JSONResponse:
    if request.headers.get("authorization") == "Bearer refused-token":
        return JSONResponse({"errors": [{"message": "unauthorized"}]}, status_code=401)
    body = await request.json()
    SEEN.append({"body": body, "authorization": request.headers.get("authorization")})
    result = await graphql(schema, body["query"], root_value=Root(), variable_values=body.get("variables"))
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    return JSONResponse(payload)


def app() -> Starlette:
    return Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])])
