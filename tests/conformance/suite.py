"""Running the official MCP conformance suite (server mode) and reading what it found.

The suite (`@modelcontextprotocol/conformance`, npm) needs Node.js 22; `install.sh` puts both in
`.cache/conformance`. It cannot send credentials, so it talks to the gateway through
`tests/helpers/auth_proxy.py`, which adds an agent's API key and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import REPO, need_service
from tests.helpers.auth_proxy import AuthProxy
from tests.helpers.servers import ThreadedServer

HERE = Path(__file__).parent
INSTALL = HERE / "install.sh"
CACHE = REPO / ".cache" / "conformance"
SUITE = CACHE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
EXPECTED = HERE / "expected_failures.yaml"
RUN_FOLDER = re.compile(r"-\d{4}-\d{2}-\d{2}T[\dZ-]+$")  # the suite names each run's folder <scenario>-<time>


@dataclass(frozen=True)
class Scenario:
    name: str
    passed: int
    failures: tuple[str, ...]  # each failed check: its id and the suite's message

    @property
    def ok(self) -> bool:
        return not self.failures and self.passed > 0


def installed_suite() -> Path:
    """Node 22 and the suite, installed on first use (skipped where npm is absent, unless CI)."""
    if shutil.which("npm") is None and not SUITE.exists():
        need_service("npm is not installed (the MCP conformance suite comes from the npm registry)")
    done = subprocess.run(
        ["bash", str(INSTALL), str(CACHE)], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        need_service(f"the MCP conformance suite could not be installed: {done.stderr.strip()[-500:]}")
    return CACHE / "node"


@contextmanager
def authenticated(gateway: str, key: str) -> Iterator[str]:
    """A URL where the suite meets the gateway as the agent holding `key`."""
    with ThreadedServer(AuthProxy(gateway, key)) as proxy:
        yield proxy.url


def run_suite(node: Path, mcp_url: str, output: Path) -> dict[str, Scenario]:
    """Every server scenario (`--suite all`), each scenario's checks read from its checks.json."""
    output.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(node), str(SUITE), "server", "--url", mcp_url, "--suite", "all", "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,  # the checks.json files say what failed
        env={**os.environ, "NO_COLOR": "1"},
    )
    found: dict[str, Scenario] = {}
    for checks_file in sorted(output.glob("server-*/checks.json")):
        scenario = RUN_FOLDER.sub("", checks_file.parent.name.removeprefix("server-"))
        checks = json.loads(checks_file.read_text())
        # The suite's own rule: a scenario fails on a FAILURE or a WARNING check (INFO is a note).
        failures = tuple(
            f"{c['id']}: {c.get('errorMessage') or c['status']}"
            for c in checks
            if c["status"] in ("FAILURE", "WARNING")
        )
        passed = sum(1 for c in checks if c["status"] == "SUCCESS")
        found[scenario] = Scenario(scenario, passed, failures)
    return found


def expected_failures(setup: str) -> dict[str, str]:
    """Scenario → why it is expected to fail, for `setup` (demo or federated)."""
    loaded = yaml.safe_load(EXPECTED.read_text()) or {}
    return dict(loaded.get(setup) or {})


def report(setup: str, results: dict[str, Scenario]) -> str:
    lines = [
        f"MCP conformance ({setup}): {sum(s.ok for s in results.values())} of {len(results)} scenarios pass"
    ]
    for name, scenario in sorted(results.items()):
        lines.append(f"  {'PASS' if scenario.ok else 'FAIL'}  {name}")
        lines += [f"          {failure[:300]}" for failure in scenario.failures]
    return "\n".join(lines)
