"""The REST door's jobs: start a tool as a job, look at it, wait for its result, cancel, list.

POST /v1/tools/{name}:start      {"arguments": {...}} → 202, Location: /v1/jobs/{id}
GET  /v1/jobs/{id}               the job (status, progress, result or problem when finished)
GET  /v1/jobs/{id}/result?wait=30s   the result once finished (202 with the job until then)
POST /v1/jobs/{id}:cancel        queued: cancelled now; running: asked to stop
GET  /v1/jobs?status=&tool=&limit=&cursor=   the caller's own jobs, newest first
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pasarela import jsonsafe
from pasarela.errors import InvalidRequest, PasarelaError
from pasarela.jobs import Job, Jobs, JobStatus
from pasarela.jobs.store import page_cursor, parse_cursor
from pasarela.pipeline import Door
from pasarela.secrets import Redactor
from pasarela.server.arguments import idempotency_key
from pasarela.server.middleware import principal_of, request_id_of
from pasarela.server.problems import PROBLEM_MEDIA_TYPE, problem_response
from pasarela.server.query import limit_param, wait_param

STATUSES = tuple(str(s) for s in JobStatus)
MAX_PAGE = 200
POLL_AFTER = "1"  # seconds: Retry-After on an answer that says "not yet"


def job_response(job: Job, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        jsonsafe.dumps({"job": job.public()}),
        status_code=status,
        media_type="application/json",
        headers={"Location": f"/v1/jobs/{job.id}", **(headers or {})},
    )


class JobRoutes:
    def __init__(self, jobs: Jobs, redactor: Redactor, arguments: Any) -> None:
        self.jobs = jobs
        self.redactor = redactor
        self.arguments = arguments  # the REST door's reader of `{"arguments": {...}}` bodies

    def routes(self) -> list[Route]:
        return [
            Route("/v1/tools/{name}:start", self.start, methods=["POST"]),
            Route("/v1/jobs", self.list_jobs, methods=["GET"]),
            Route("/v1/jobs/{id}", self.show, methods=["GET"]),
            Route("/v1/jobs/{id}/result", self.result, methods=["GET"]),
            Route("/v1/jobs/{id}:cancel", self.cancel, methods=["POST"]),
        ]

    async def start(self, request: Request) -> Response:
        request_id = request_id_of(request.scope)
        name = request.path_params["name"]
        try:
            key = idempotency_key(request.headers.get("idempotency-key"), source="the Idempotency-Key header")
            return await self.start_job(request, name, await self.arguments(request, name), key)
        except PasarelaError as exc:
            return problem_response(exc, self.redactor, request_id=request_id)

    async def start_job(
        self, request: Request, name: str, arguments: dict[str, Any], key: str | None
    ) -> Response:
        """Also the answer of `:call` to a tool that always runs as a job (`execution: async`)."""
        started = await self.jobs.start(
            principal_of(request.scope),
            name,
            arguments,
            door=Door.REST,
            request_id=request_id_of(request.scope),
            client_key=key,
        )
        replayed = {} if started.created else {"Idempotent-Replayed": "true"}
        return job_response(started.job, 202, {"Retry-After": POLL_AFTER, **replayed})

    async def show(self, request: Request) -> Response:
        try:
            return job_response(await self.jobs.get(principal_of(request.scope), request.path_params["id"]))
        except PasarelaError as exc:
            return problem_response(exc, self.redactor, request_id=request_id_of(request.scope))

    async def result(self, request: Request) -> Response:
        request_id = request_id_of(request.scope)
        try:
            wait = wait_param(request.query_params.get("wait"))
            job = await self.jobs.wait(principal_of(request.scope), request.path_params["id"], wait)
        except PasarelaError as exc:
            return problem_response(exc, self.redactor, request_id=request_id)
        if not job.status.finished:
            return job_response(job, 202, {"Retry-After": POLL_AFTER})
        if job.status is JobStatus.COMPLETED and job.outcome is not None:
            meta = {**job.outcome.get("meta", {}), "job": job.id, "tool": job.tool}
            return Response(
                jsonsafe.dumps({"result": job.outcome.get("result"), "meta": meta}),
                media_type="application/json",
            )
        problem = {**(job.problem or {}), "job": job.id}
        body = self.redactor.redact(jsonsafe.dumps(problem).decode())
        return Response(body, status_code=int(problem.get("status", 500)), media_type=PROBLEM_MEDIA_TYPE)

    async def cancel(self, request: Request) -> Response:
        try:
            job = await self.jobs.cancel(principal_of(request.scope), request.path_params["id"])
        except PasarelaError as exc:
            return problem_response(exc, self.redactor, request_id=request_id_of(request.scope))
        return job_response(job, 200 if job.status.finished else 202)

    async def list_jobs(self, request: Request) -> Response:
        params = request.query_params
        try:
            status, tool = params.get("status"), params.get("tool")
            if status is not None and status not in STATUSES:
                raise InvalidRequest(f"unknown status {status!r}: expected one of {', '.join(STATUSES)}")
            limit = limit_param(params.get("limit"), default=50, maximum=MAX_PAGE)
            cursor = params.get("cursor")
            try:
                before = parse_cursor(cursor) if cursor else None
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
            found = await self.jobs.page(
                principal_of(request.scope), status=status, tool=tool, limit=limit + 1, before=before
            )
        except PasarelaError as exc:
            return problem_response(exc, self.redactor, request_id=request_id_of(request.scope))
        shown = found[:limit]
        following = page_cursor(shown[-1]) if len(found) > limit else None
        return Response(
            jsonsafe.dumps({"jobs": [job.public() for job in shown], "next_cursor": following}),
            media_type="application/json",
        )
