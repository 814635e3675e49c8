"""Backends that answer 202 and a status URL, followed to the end: directly and as a job."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pasarela.demo.reports import create_reports_app
from pasarela.errors import ConfigError
from tests.helpers.gateway import READER_KEY, bearer, gateway_for
from tests.helpers.servers import ThreadedServer, free_port

pytestmark = pytest.mark.anyio
TOKEN = "reports-token-0001"
FOLLOW = (
    "{done: \"body.state == 'done'\", failed: \"body.state == 'failed'\", result: body.report, "
    "progress: body.progress, message: body.message, interval: 100ms}"
)


@contextmanager
def reports_system(tmp_path: Path, seconds: float) -> Iterator[str]:
    port = free_port()
    app = create_reports_app(str(tmp_path / "reports.db"), TOKEN, f"http://127.0.0.1:{port}", seconds=seconds)
    with ThreadedServer(app, port) as server:
        yield server.url


def backend(url: str) -> str:
    return (
        f'  reports:\n    openapi: {url}/openapi.json\n    base_url: {url}\n    auth: {{bearer: "{TOKEN}"}}\n'
    )


def extra(follow: str = FOLLOW, timeout: str = "10s", execution: str = "optional") -> str:
    return f"""tools:
  generateStatementReport:
    execution: {execution}
    timeout: {timeout}
    job: {{timeout: {timeout}}}
    follow: {follow}
jobs: {{workers: 2, poll_interval: 50ms}}
access:
  reader: [generateStatementReport]
"""


async def call(client: httpx.AsyncClient, action: str = "call") -> httpx.Response:
    return await client.post(
        f"/v1/tools/generateStatementReport:{action}",
        json={"arguments": {"customer_id": "12345", "period": "2026-03"}},
        headers=bearer(READER_KEY),
        timeout=30,
    )


async def test_a_call_follows_the_status_url_to_the_report(tmp_path: Path) -> None:
    with reports_system(tmp_path, seconds=0.5) as url:
        async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=backend(url), extra=extra()) as (
            client,
            _,
        ):
            answer = await call(client)
    assert answer.status_code == 200, answer.text
    report = answer.json()["result"]
    assert (report["customer_id"], report["period"], report["currency"]) == ("12345", "2026-03", "EUR")


async def test_as_a_job_its_progress_is_the_backends(tmp_path: Path) -> None:
    with reports_system(tmp_path, seconds=2.0) as url:
        async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=backend(url), extra=extra()) as (
            client,
            _,
        ):
            job = (await call(client, "start")).json()["job"]
            seen: list[dict[str, Any]] = []
            with anyio.fail_after(15):
                while True:
                    now = (await client.get(f"/v1/jobs/{job['id']}", headers=bearer(READER_KEY))).json()[
                        "job"
                    ]
                    if "progress" in now and now["status"] == "running":
                        seen.append(now["progress"])
                    if now["status"] == "completed":
                        break
                    await anyio.sleep(0.1)
    assert seen and any(p["message"].startswith("adding ") for p in seen), seen
    assert all(0 <= p["fraction"] <= 1 for p in seen), seen  # 1.0 may show just before the end
    assert now["result"]["closing_balance"] is not None and now["progress"]["fraction"] == 1.0


async def test_work_that_outlasts_the_call_is_cut_by_its_time(tmp_path: Path) -> None:
    with reports_system(tmp_path, seconds=30) as url:
        async with gateway_for(
            tmp_path, "http://127.0.0.1:9", backends=backend(url), extra=extra(timeout="1s")
        ) as (client, _):
            answer = await call(client)
    assert (answer.status_code, answer.json()["code"]) == (504, "upstream_timeout")


def elsewhere_app(port: int) -> Starlette:
    """A backend whose 202 points at another origin, then at a failed status."""

    async def start(request: Request) -> JSONResponse:
        target = request.query_params.get("to", "http://169.254.169.254/latest")
        return JSONResponse({"state": "running"}, status_code=202, headers={"Location": target})

    def failed(request: Request) -> JSONResponse:
        return JSONResponse({"state": "failed", "error": "disk full"})

    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/start": {
                "post": {
                    "operationId": "begin",
                    "parameters": [{"name": "to", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"202": {"description": "started"}},
                }
            }
        },
    }
    return Starlette(
        routes=[
            Route("/openapi.json", lambda r: JSONResponse(spec)),
            Route("/start", start, methods=["POST"]),
            Route("/status/failed", failed),
        ]
    )


async def test_a_status_url_elsewhere_is_not_followed_and_a_failure_is_reported(tmp_path: Path) -> None:
    port = free_port()
    with ThreadedServer(elsewhere_app(port), port) as server:
        config = f"  odd:\n    openapi: {server.url}/openapi.json\n    base_url: {server.url}\n"
        follow = "{done: \"body.state == 'done'\", failed: \"body.state == 'failed'\", interval: 50ms}"
        tools = f"tools:\n  begin: {{follow: {follow}}}\naccess:\n  reader: [begin]\n"
        async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=config, extra=tools) as (client, _):
            away = await client.post(
                "/v1/tools/begin:call", json={"arguments": {}}, headers=bearer(READER_KEY)
            )
            failed = await client.post(
                "/v1/tools/begin:call",
                json={"arguments": {"to": "/status/failed"}},
                headers=bearer(READER_KEY),
            )
    assert away.status_code == 502 and "outside its own origin" in away.json()["detail"], away.text
    assert (failed.status_code, failed.json()["code"]) == (502, "upstream_error")
    assert "reports that begin failed" in failed.json()["detail"]


async def test_follow_settings_are_checked_at_load(tmp_path: Path) -> None:
    with (
        reports_system(tmp_path, seconds=1) as url,
        pytest.raises(ConfigError, match=r"tools\.generateStatementReport\.follow\.done.*JMESPath"),
    ):
        async with gateway_for(
            tmp_path,
            "http://127.0.0.1:9",
            backends=backend(url),
            extra=extra(follow="{done: 'body.state =='}"),
        ):
            pass
    python_tool = "tools:\n  greet: {follow: {done: body.ok}}\n"
    with pytest.raises(ConfigError, match=r"tools\.greet\.follow: only OpenAPI tools can follow"):
        async with gateway_for(tmp_path, "http://127.0.0.1:9", extra=python_tool):
            pass
