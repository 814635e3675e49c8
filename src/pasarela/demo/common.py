"""What the demo systems share: a SQLite connection, credential checks, packaged specs."""

from __future__ import annotations

import hmac
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


@contextmanager
def connect(path: str) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, timeout=5)
    connection.row_factory = sqlite3.Row
    try:
        yield connection
        connection.commit()
    finally:
        connection.close()


def packaged(name: str) -> str:
    """A file shipped in pasarela/demo/specs."""
    return resources.files("pasarela.demo").joinpath("specs", name).read_text(encoding="utf-8")


def openapi_spec(name: str, base_url: str) -> dict[str, Any]:
    """A packaged OpenAPI description, pointing at where this system runs."""
    spec: dict[str, Any] = yaml.safe_load(packaged(name))
    spec["servers"] = [{"url": base_url}]
    return spec


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def guarded(check: Callable[[Request], bool], endpoint: Callable[[Request], Response]) -> Callable[..., Any]:
    def guarded(request: Request) -> Response:
        if not check(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return endpoint(request)

    return guarded


def exit_with_parent() -> None:
    """Stop when the process that started us is gone, so no demo system is ever left behind."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
