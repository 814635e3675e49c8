"""The demo's statement reports: built in the background, followed through a status URL.

`POST /reports` answers `202 Accepted` with `Location: /reports/{id}`; the report takes
`PASARELA_DEMO_REPORT_SECONDS` (20 by default) to build, and its status says how far it is.
The gateway follows it to the end (`follow:` in the demo configuration), so an agent sees one
job with progress — the seed's ten-minute report, shortened.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pasarela.config.durations import parse_duration
from pasarela.demo.common import connect, guarded, packaged, same

CURRENCIES = {"12345": "EUR", "23456": "EUR", "34567": "SGD", "45678": "USD", "56789": "EUR"}
SECTIONS = ("opening balance", "card payments", "transfers", "fees and interest", "closing balance")


def _seed(db_path: str) -> None:
    with connect(db_path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS statements (customer_id TEXT, period TEXT, opening REAL, closing REAL,"
            " lines INTEGER, PRIMARY KEY (customer_id, period))"
        )
        if db.execute("SELECT COUNT(*) FROM statements").fetchone()[0]:
            return
        rows = []
        for index, customer in enumerate(sorted(CURRENCIES)):
            balance = 1000.0 * (index + 2)
            for month in range(1, 13):
                closing = round(balance + 37.5 * ((month * (index + 3)) % 7) - 90.0, 2)
                rows.append(
                    (customer, f"2026-{month:02d}", balance, closing, 12 + (month * (index + 1)) % 30)
                )
                balance = closing
        db.executemany("INSERT INTO statements VALUES (?, ?, ?, ?, ?)", rows)


def create_reports_app(db_path: str, token: str, base_url: str, seconds: float | None = None) -> Starlette:
    _seed(db_path)
    duration = (
        seconds if seconds is not None else report_seconds(os.environ.get("PASARELA_DEMO_REPORT_SECONDS"))
    )
    reports: dict[str, dict[str, Any]] = {}

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and same(header.removeprefix("Bearer "), token)

    async def start(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        body = await request.json()
        customer, period = body.get("customer_id"), body.get("period")
        with connect(db_path) as db:
            row = db.execute(
                "SELECT opening, closing, lines FROM statements WHERE customer_id = ? AND period = ?",
                (customer, period),
            ).fetchone()
        if row is None:
            return JSONResponse({"error": f"no statement for {customer} in {period}"}, status_code=404)
        report_id = uuid.uuid4().hex[:12]
        reports[report_id] = {
            "started": time.monotonic(),
            "report": {
                "customer_id": customer,
                "period": period,
                "opening_balance": row["opening"],
                "closing_balance": row["closing"],
                "lines": row["lines"],
                "currency": CURRENCIES[customer],
            },
        }
        return JSONResponse(
            _status(report_id, reports[report_id], duration),
            status_code=202,
            headers={"Location": f"/reports/{report_id}"},
        )

    def status(request: Request) -> Response:
        report_id = request.path_params["report_id"]
        if report_id not in reports:
            return JSONResponse({"error": "no such report"}, status_code=404)
        return JSONResponse(_status(report_id, reports[report_id], duration))

    spec: dict[str, Any] = yaml.safe_load(packaged("reports.yaml"))
    spec["servers"] = [{"url": base_url}]
    return Starlette(
        routes=[
            Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
            Route("/openapi.json", lambda r: JSONResponse(spec)),
            Route("/reports", start, methods=["POST"]),
            Route("/reports/{report_id}", guarded(authorized, status)),
        ]
    )


def report_seconds(setting: str | None) -> float:
    """How long a report takes: `PASARELA_DEMO_REPORT_SECONDS` (a number, or a duration)."""
    if not setting:
        return 20.0
    try:
        return float(setting) if setting.replace(".", "", 1).isdigit() else parse_duration(setting)
    except ValueError as exc:
        raise SystemExit(f"PASARELA_DEMO_REPORT_SECONDS: {exc}") from None


def _status(report_id: str, entry: dict[str, Any], duration: float) -> dict[str, Any]:
    fraction = min(1.0, (time.monotonic() - entry["started"]) / duration) if duration > 0 else 1.0
    if fraction >= 1.0:
        return {
            "report_id": report_id,
            "state": "done",
            "progress": 1.0,
            "message": "done",
            "report": entry["report"],
        }
    section = SECTIONS[min(len(SECTIONS) - 1, int(fraction * len(SECTIONS)))]
    return {
        "report_id": report_id,
        "state": "running",
        "progress": round(fraction, 3),
        "message": f"adding {section}",
    }
