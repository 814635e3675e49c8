"""Pasarela as a real subprocess, for whole-process tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import REPO


def pasarela_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pasarela", *args]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path  # everything the process printed

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def served(config: Path, port: int, env: dict[str, str], *, log: Path | None = None) -> Iterator[Served]:
    """`pasarela serve` until the block ends, ready (/readyz answers) when the block starts.

    Output goes to a file, never a pipe nobody reads (a chatty server would block on a full pipe).
    """
    log_file = log or Path(tempfile.mkstemp(prefix="pasarela-serve-", suffix=".log")[1])
    with log_file.open("wb") as sink:
        process = subprocess.Popen(
            pasarela_command("serve", "-c", str(config), "--port", str(port)),
            env=child_env(env),
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    handle = Served(f"http://127.0.0.1:{port}", process, log_file)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"pasarela serve exited with {process.returncode}:\n{handle.output()}")
            try:
                ready = httpx.get(f"{handle.url}/readyz", timeout=1)
                # Its own answer: another process that took the port (a parallel run) is not it.
                if ready.status_code == 200 and {"status", "tools"} <= set(ready.json()):
                    break
            except (httpx.TransportError, ValueError, TypeError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"pasarela serve did not become ready:\n{handle.output()}")
            time.sleep(0.1)
        yield handle
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log is None:
            log_file.unlink(missing_ok=True)


@contextmanager
def serving(config: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """`pasarela serve` until the block ends; yields the base URL once /readyz answers."""
    with served(config, port, env) as handle:
        yield handle.url


def run_pasarela(
    *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """`pasarela ARGS` to completion, from the repository, with output captured as text."""
    return subprocess.run(
        pasarela_command(*args),
        env=child_env(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
