"""The one HTTP translation of PasarelaError: RFC 9457 problem+json."""

from __future__ import annotations

from starlette.responses import Response

from pasarela import jsonsafe
from pasarela.errors import PasarelaError
from pasarela.secrets import Redactor

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_response(error: PasarelaError, redactor: Redactor, *, request_id: str | None = None) -> Response:
    problem = error.to_problem(instance=f"urn:pasarela:request:{request_id}" if request_id else None)
    if request_id:
        problem["request_id"] = request_id
    body = redactor.redact(jsonsafe.dumps(problem).decode())
    return Response(
        body, status_code=error.status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(error.headers())
    )
