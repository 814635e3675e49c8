"""The official MCP conformance suite against Pasarela: on the demo bank, and with the suite's
fixtures served by a real upstream MCP server federated behind the gateway.

Each run writes a per-scenario report (printed, and kept beside the suite's own output). The
test holds the results to `expected_failures.yaml` both ways: a scenario failing that is not
listed fails the test, and so does a listed one that now passes (the list must shrink as the
doors grow, never hide a regression).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conformance.suite import (
    Scenario,
    authenticated,
    expected_failures,
    installed_suite,
    report,
    run_suite,
)
from tests.conftest import REPO
from tests.e2e.test_demo import running_demo
from tests.helpers.gateway import sha
from tests.helpers.processes import serving
from tests.helpers.servers import free_port

pytestmark = [pytest.mark.e2e]

AGENT_KEY = "conformance-agent-key-0001"
SCENARIOS = 32  # `conformance list --server` of suite 0.1.16


def federated_config(directory: Path, port: int) -> Path:
    path = directory / "pasarela.yaml"
    path.write_text(
        f"""\
version: 1
server: {{host: 127.0.0.1, port: {port}}}
state: sqlite:///{directory / "state.db"}
identity:
  api_keys:
    - {{principal: conformance, key_sha256: "{sha(AGENT_KEY)}", roles: [agent]}}
backends:
  fixtures:
    mcp: {{command: {sys.executable}, args: [-m, tests.conformance.fixture_server], cwd: {REPO}}}
    prefix: ""
    timeout: 30s
    protocol: "2025-11-25"  # the fixtures ask their client with server-to-client requests
    allow_sampling: true
    allow_elicitation: true
access:
  agent: ["*"]
policies: |
  permit(principal in Role::"agent", action in [Action::"read_resource", Action::"get_prompt"], resource);
logging: {{level: warning, format: json}}
"""
    )
    return path


def held_to_baseline(setup: str, results: dict[str, Scenario], output: Path) -> None:
    shown = report(setup, results)
    (output / "report.txt").write_text(shown + "\n")
    print(shown)
    assert len(results) == SCENARIOS, f"the suite ran {len(results)} scenarios, not {SCENARIOS}:\n{shown}"
    expected = expected_failures(setup)
    failing = {name for name, scenario in results.items() if not scenario.ok}
    unexpected = sorted(failing - set(expected))
    stale = sorted(set(expected) - failing)
    assert not unexpected, f"scenarios failing that should pass: {unexpected}\n{shown}"
    assert not stale, f"scenarios that now pass: remove them from expected_failures.yaml: {stale}\n{shown}"


def test_the_demo_bank_passes_what_needs_no_fixtures(tmp_path: Path) -> None:
    node = installed_suite()
    output = tmp_path / "conformance"
    with (
        running_demo(tmp_path / "demo") as demo,
        authenticated(demo.rest_url.removesuffix("/v1"), demo.keys["support-bot"]) as proxied,
    ):
        results = run_suite(node, f"{proxied}/mcp", output)
    held_to_baseline("demo", results, output)


def test_the_suites_fixtures_pass_through_the_gateway(tmp_path: Path) -> None:
    node = installed_suite()
    output = tmp_path / "conformance"
    port = free_port()
    with serving(federated_config(tmp_path, port), port, {}) as url, authenticated(url, AGENT_KEY) as proxied:
        results = run_suite(node, f"{proxied}/mcp", output)
    held_to_baseline("federated", results, output)
