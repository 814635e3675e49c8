"""Long command-line work shows progress at a terminal, and nothing but its answer elsewhere."""

from __future__ import annotations

import io
import os
import pty
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from pasarela.audit import AuditWriter
from pasarela.commands.progress import progress_bar
from pasarela.state import open_state
from tests.audit.test_audit import sample_record
from tests.helpers.processes import child_env, pasarela_command, run_pasarela

RECORDS = 12_000  # more than two pages of `audit verify`


def test_a_bar_is_drawn_only_for_a_terminal() -> None:
    terminal, piped = io.StringIO(), io.StringIO()
    for stream, forced in ((terminal, True), (piped, False)):
        console = Console(file=stream, force_terminal=forced, width=100)
        with progress_bar(console, "Verifying", total=4) as bar:
            bar.advance(2, label="Verifying the chain")
            bar.advance(2)
    assert "Verifying the chain" in terminal.getvalue() and "4/4" in terminal.getvalue()
    assert piped.getvalue() == ""


def run_at_a_terminal(*args: str) -> tuple[int, str]:
    """`pasarela ARGS` with stderr on a pseudo-terminal; what the terminal showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        pasarela_command(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**child_env(), "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return process.wait(timeout=60), shown.decode(errors="replace")


@pytest.mark.anyio
async def test_audit_verify_shows_its_progress_at_a_terminal(tmp_path: Path) -> None:
    config = tmp_path / "pasarela.yaml"
    config.write_text(f"version: 1\nstate: sqlite:///{tmp_path / 'state.db'}\nbackends: {{}}\naccess: {{}}\n")
    store = await open_state(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    writer = AuditWriter(store, flush_interval=60, batch_size=5000)
    await writer.start()
    for n in range(RECORDS):
        writer.submit(sample_record(request_id=f"r{n}"))
    await writer.aclose()
    await store.aclose()
    status, shown = run_at_a_terminal("audit", "verify", "-c", str(config))
    assert status == 0, shown
    assert "Verifying the audit chain" in shown and f"/{RECORDS}" in shown
    assert f"audit: OK — {RECORDS} record(s)" in shown
    piped = run_pasarela("audit", "verify", "-c", str(config))
    assert piped.returncode == 0
    assert piped.stderr.startswith("audit: OK"), "no bar, no escape codes when stderr is not a terminal"
