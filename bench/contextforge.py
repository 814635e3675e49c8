"""Pasarela and IBM ContextForge 1.1.0 side by side: same upstream, same MCP driver, one run.

    .venv/bin/python -m bench.contextforge [--duration 20] [--sessions 8 32] [--workers 1 2]

ContextForge needs Python 3.12: it is installed (once, if missing) into its own venv outside
the repository (--venv, default /work/cf-venv) from PyPI (`mcp-contextforge-gateway==1.1.0`),
with pyenv's 3.12 (--python). It runs as its documented production default does: gunicorn
with uvicorn workers, 2 × cores + 1 of them (5 here), JWT authentication on, and its tuning
guide's production backing: PostgreSQL (a fresh `contextforge_bench` database on
127.0.0.1:5432, dropped afterwards; `--cf-database sqlite` for its development default) and a
Redis cache (127.0.0.1:6379 db 12, flushed). Its per-user rate limiter is off (see ENV). One REST
tool, `get_thing`, is registered through its admin API and points at bench/upstream.py's
GET /things/{thing_id}, the same call Pasarela's OpenAPI connector makes.

Every gateway is then driven by bench/mcpdriver.py (the official `mcp` client): for each
session count N, N sessions each calling the tool back to back. Prints a table and writes
JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path

import anyio
import httpx
from tests.helpers.servers import free_port

from bench.mcpdriver import open_sessions, sessions_loop
from bench.run import ROOT, Result, gateway_process, mcp_closed, stop, summarise, upstream_process, wait_ready

VERSION = "1.1.0"
ADMIN = "admin@example.com"
# Bench-only secrets: ContextForge refuses to start with weak or default ones.
ENV = {
    "JWT_SECRET_KEY": "bench-jwt-secret-0123456789abcdef0123456789",
    "AUTH_ENCRYPTION_SECRET": "bench-enc-secret-0123456789abcdef",
    "BASIC_AUTH_USER": "admin",
    "BASIC_AUTH_PASSWORD": "bench-basic-pass-0123",
    "PLATFORM_ADMIN_EMAIL": ADMIN,
    "PLATFORM_ADMIN_PASSWORD": "Bench-Admin-Pass-0123!",
    "DEFAULT_USER_PASSWORD": "Bench-User-Pass-0123!",
    "AUTH_REQUIRED": "true",
    "MCPGATEWAY_UI_ENABLED": "false",
    "MCPGATEWAY_ADMIN_API_ENABLED": "true",
    "SSRF_ALLOW_LOCALHOST": "true",  # the upstream is on loopback
    "LOG_LEVEL": "ERROR",
    # Its default tier limiter allows one user 100 MCP/tool requests a minute (+20 burst), each
    # worker counting alone without Redis, and locks the user out for 15 minutes after 5
    # refusals: this bench is one user making thousands of calls a minute, so with it on most
    # calls come back 429 (the client's "Server returned an error response"). Off, as for
    # any load test of the gateway itself.
    "RATE_LIMITING_ENABLED": "false",
    # Its tuning guide's production setting for several workers: a shared Redis cache.
    "CACHE_TYPE": "redis",
    "REDIS_URL": "redis://127.0.0.1:6379/12",
}
# Its documented production database (SQLite is for development); a fresh database each run.
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/contextforge_bench"
# Run with its venv's Python before a run (a fresh database, an empty Redis database) and
# after it ("drop": leave nothing behind).
RESET = """
import sys, psycopg, redis
redis.Redis.from_url(sys.argv[1]).flushdb()
if sys.argv[2].startswith("postgresql"):
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute("DROP DATABASE IF EXISTS contextforge_bench WITH (FORCE)")
        if sys.argv[3:] != ["drop"]:
            db.execute("CREATE DATABASE contextforge_bench")
"""


def install(venv: Path, python: str) -> None:
    ready = [str(venv / "bin" / "python"), "-c", "import mcpgateway, psycopg"]
    if (venv / "bin" / "gunicorn").exists() and subprocess.run(
        ready, check=False, capture_output=True
    ).returncode == 0:
        return
    print(f"installing mcp-contextforge-gateway[postgres]=={VERSION} into {venv}", flush=True)
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    package = f"mcp-contextforge-gateway[postgres]=={VERSION}"
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", package], check=True)


@contextmanager
def contextforge(
    venv: Path, upstream_url: str, workers: int, database: str, log: Path | None = None
) -> Iterator[tuple[str, str]]:
    """A running ContextForge with the tool registered; yields (url, bearer token)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        database_url = POSTGRES if database == "postgres" else f"sqlite:///{scratch}/mcp.db"
        env = {**os.environ, **ENV, "DATABASE_URL": database_url}
        reset = [str(venv / "bin" / "python"), "-c", RESET, ENV["REDIS_URL"], database_url]
        subprocess.run(reset, check=True)
        env["GUNICORN_WORKERS"] = str(workers)
        env.pop("PYTHONPATH", None)
        gunicorn = [str(venv / "bin" / "gunicorn"), "mcpgateway.main:app"]
        sink = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [*gunicorn, "-k", "uvicorn.workers.UvicornWorker", "-w", str(workers), "-b", f"127.0.0.1:{port}"],
            cwd=scratch,
            env=env,
            stdout=sink,
            stderr=sink,
            start_new_session=True,  # its own process group: see the finally below
        )
        try:
            wait_ready(f"{url}/health", process, timeout=180)
            token_args = ["--username", ADMIN, "--exp", "600", "--secret", ENV["JWT_SECRET_KEY"]]
            token = subprocess.run(
                [str(venv / "bin" / "python"), "-m", "mcpgateway.utils.create_jwt_token", *token_args],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
            tool = {
                "name": "get_thing",
                "url": f"{upstream_url}/things/{{thing_id}}",
                "integration_type": "REST",
                "request_type": "GET",
                "description": "Get a thing",
                "input_schema": {
                    "type": "object",
                    "properties": {"thing_id": {"type": "string"}},
                    "required": ["thing_id"],
                },
            }
            answer = httpx.post(
                f"{url}/tools", json={"tool": tool}, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            answer.raise_for_status()
            yield url, token
        finally:
            stop(process)
            # Its workers and their children can outlive a master stopped by SIGINT (seen:
            # hundreds of orphans from earlier runs loading the machine under Pasarela's runs).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            if not isinstance(sink, int):
                sink.close()
            subprocess.run([*reset, "drop"], check=True)


async def drive_contextforge(url: str, token: str, counts: list[int], duration: float) -> list[Result]:
    results = []
    for count in counts:
        async with AsyncExitStack() as stack:
            sessions = await open_sessions(stack, f"{url}/mcp", {"Authorization": f"Bearer {token}"}, count)
            # ContextForge names the tool get-thing (it slugs names).
            latencies, errors, elapsed = await sessions_loop(
                sessions, "get-thing", {"thing_id": "42"}, duration
            )
        results.append(
            summarise(f"contextforge-{count}-sessions", "closed", None, latencies, errors, elapsed)
        )
        print(results[-1], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per closed loop")
    parser.add_argument("--sessions", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--workers", nargs="*", type=int, default=[1, 2], help="Pasarela's --workers to run")
    parser.add_argument("--cf-workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--cf-database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--cf-log", type=Path, help="append ContextForge's own log here")
    parser.add_argument("--venv", type=Path, default=Path("/work/cf-venv"))
    parser.add_argument("--python", default="/root/.pyenv/versions/3.12.1/bin/python3.12")
    args = parser.parse_args()
    install(args.venv, args.python)
    load = os.getloadavg()
    rows: dict[str, list[Result]] = {}
    with upstream_process() as upstream_url:
        cf = contextforge(args.venv, upstream_url, args.cf_workers, args.cf_database, args.cf_log)
        with cf as (url, token):
            rows[f"ContextForge {VERSION} ({args.cf_workers} workers, {args.cf_database})"] = anyio.run(
                drive_contextforge,
                url,
                token,
                args.sessions,
                args.duration,
                backend_options={"use_uvloop": True},
            )
        for workers in args.workers:
            with gateway_process(upstream_url, workers=workers) as gateway_url:
                rows[f"Pasarela ({workers} worker{'s' if workers > 1 else ''})"] = anyio.run(
                    mcp_closed,
                    gateway_url,
                    args.sessions,
                    args.duration,
                    backend_options={"use_uvloop": True},
                )
    lines = [
        "| gateway | sessions | calls/s | p50 ms | p99 ms | max ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, results in rows.items():
        for count, r in zip(args.sessions, results, strict=True):
            lines.append(
                f"| {name} | {count} | {r.throughput} | {r.p50_ms} | {r.p99_ms} | {r.max_ms} | {r.errors} |"
            )
    print("\n".join(lines))
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: {os.getloadavg()[0]:.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"contextforge-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
                "load_before": load,
                "args": {k: str(v) for k, v in vars(args).items()},
                "results": {name: [asdict(r) for r in results] for name, results in rows.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
