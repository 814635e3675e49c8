"""The `pasarela` command, run as a real process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.conftest import REPO
from tests.helpers.gateway import ENV, write_config
from tests.helpers.gemini_rules import declaration_problems
from tests.helpers.processes import run_pasarela
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.e2e


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_pasarela(*args, env=env)


@pytest.fixture
def upstream() -> Iterator[tuple[RecordingUpstream, str]]:
    recorder = RecordingUpstream()
    with ThreadedServer(recorder) as server:
        yield recorder, server.url


@pytest.fixture
def config(tmp_path: Path, upstream: tuple[RecordingUpstream, str]) -> Path:
    return write_config(tmp_path, upstream[1])


def test_check_accepts_a_good_config(config: Path) -> None:
    done = run("check", "-c", str(config), env=ENV)
    assert done.returncode == 0, done.stderr
    assert "OK — 16 tool(s) from 2 backend(s)" in done.stderr


def test_check_reports_every_problem_with_its_key_path(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "version: 1\n"
        "server: {port: -1}\n"
        "identity:\n"
        "  api_keys:\n"
        "    - {principal: a, key_sha256: nothex}\n"
        "backends:\n"
        "  crm: {openapi: ./missing.yaml, timeout: soon, retries: 3}\n"
    )
    done = run("check", "-c", str(broken))
    assert done.returncode == 1
    for expected in (
        f"{broken}:2: server.port:",
        f"{broken}:5: identity.api_keys[0].key_sha256: expected 64 hexadecimal characters",
        f"{broken}:7: backends.crm.timeout: expected a duration",
        f"{broken}:7: backends.crm.retries: unknown key for openapi backends; expected one of:",
    ):
        assert expected in done.stderr, done.stderr


def test_check_reports_problems_found_while_loading(config: Path) -> None:
    text = config.read_text().replace("reader: [getItem,", "reader: [getItme,")
    text = text.replace("python: tests.connectors.sample_tools", "python: tests.connectors.nothing_here")
    config.write_text(text)
    done = run("check", "-c", str(config), env=ENV)
    assert done.returncode == 1
    assert "backends.py.python: cannot import 'tests.connectors.nothing_here'" in done.stderr


def test_check_names_unknown_tools_in_access(config: Path) -> None:
    config.write_text(config.read_text().replace("reader: [getItem,", "reader: [getItme,"))
    done = run("check", "-c", str(config), env=ENV)
    assert done.returncode == 1
    assert "access.reader[0]: no tool named 'getItme'" in done.stderr
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "reader: [getItme" in text)
    assert f"{config}:{line}: access.reader[0]: no tool named 'getItme'" in done.stderr


def test_check_missing_file(tmp_path: Path) -> None:
    done = run("check", "-c", str(tmp_path / "nope.yaml"))
    assert done.returncode == 1
    assert "file not found" in done.stderr


@pytest.mark.parametrize("fmt", ["json", "openai", "anthropic", "gemini", "mcp"])
def test_tools_list_formats(config: Path, fmt: str) -> None:
    done = run("tools", "list", "-c", str(config), "--format", fmt, "--as", "reader", env=ENV)
    assert done.returncode == 0, done.stderr
    tools = json.loads(done.stdout)
    assert len(tools) == 4
    if fmt == "json":
        assert set(tools[0]) == {"name", "description", "inputSchema", "outputSchema", "annotations"}
    elif fmt == "openai":
        assert tools[0]["type"] == "function"
        assert tools[0]["function"]["name"] == "getItem"
    elif fmt == "anthropic":
        assert set(tools[0]) == {"name", "description", "input_schema"}
    elif fmt == "gemini":
        assert [p for tool in tools for p in declaration_problems(tool)] == []
        assert tools[0]["parameters"]["properties"]["item_id"]["type"] == "string"
    else:
        assert "outputSchema" not in tools[0]
        assert tools[0]["annotations"]["readOnlyHint"] is True


def test_tools_list_everything_and_bad_format(config: Path) -> None:
    assert len(json.loads(run("tools", "list", "-c", str(config), env=ENV).stdout)) == 16
    assert run("tools", "list", "-c", str(config), "--format", "xml", env=ENV).returncode == 2


def test_call_through_the_pipeline(config: Path, upstream: tuple[RecordingUpstream, str]) -> None:
    done = run("call", "getItem", "--args", '{"item_id": "7"}', "--as", "reader", "-c", str(config), env=ENV)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["result"]["path"] == "/items/7"
    assert body["meta"]["backend"] == "items"
    denied = run(
        "call", "createItem", "--args", '{"name": "x"}', "--as", "reader", "-c", str(config), env=ENV
    )
    assert denied.returncode == 3, "the call's answer is no"
    assert json.loads(denied.stdout)["code"] == "denied"
    invalid = run("call", "getItem", "--args", "{}", "--as", "reader", "-c", str(config), env=ENV)
    assert json.loads(invalid.stdout)["errors"] == [
        {"path": "/item_id", "message": "required argument is missing"}
    ]
    assert [s.raw_path for s in upstream[0].seen] == ["/items/7"]
    assert run("call", "getItem", "--args", "not json", "--as", "reader", "-c", str(config)).returncode == 2


def test_config_schema_is_valid_and_accepts_the_example() -> None:
    done = run("config", "schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    Draft202012Validator.check_schema(schema)
    example = yaml.safe_load((REPO / "examples" / "bank" / "pasarela.yaml").read_text())
    assert list(Draft202012Validator(schema).iter_errors(example)) == []
    assert not Draft202012Validator(schema).is_valid({"version": 1, "surprise": True})
    assert Draft202012Validator(schema).is_valid(
        {"version": 1, "policies": "permit(principal, action, resource);"}
    )
    assert Draft202012Validator(schema).is_valid(
        {"version": 1, "policies": [{"file": "a.cedar", "mode": "log_only"}]}
    )


def test_version() -> None:
    assert run("--version").stdout.strip().startswith("0.")


def test_serve_on_a_taken_port_is_one_clear_error(config: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("serve", "-c", str(config), "--port", str(port), env=ENV)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_quotas_shows_usage_in_the_current_period(
    tmp_path: Path, upstream: tuple[RecordingUpstream, str]
) -> None:
    config = write_config(
        tmp_path,
        upstream[1],
        extra=f"state: sqlite:///{tmp_path / 'state.db'}\n"
        "quotas:\n  - {tools: [getItem], key: [principal, tool], limit: 5, per: day}\n",
    )
    for _ in range(2):
        done = run(
            "call", "getItem", "--as", "reader", "--args", '{"item_id": "1"}', "-c", str(config), env=ENV
        )
        assert done.returncode == 0, done.stdout + done.stderr
    shown = run("quotas", "-c", str(config), env=ENV)
    assert shown.returncode == 0, shown.stderr
    assert "quotas[0]: 5 per day per [principal, tool] (tools=getItem)" in shown.stdout
    assert "principal=reader|tool=getItem" in shown.stdout and "2/5 used" in shown.stdout
    as_json = run("quotas", "--json", "-c", str(config), env=ENV)
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(r["subject"], r["used"], r["limit"]) for r in rows] == [("principal=reader|tool=getItem", 2, 5)]


def test_schemas_check_names_the_tools_a_change_breaks(tmp_path: Path) -> None:
    schema = tmp_path / "customer-2.json"
    schema.write_text(
        '{"type": "object", "required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}}'
    )
    config = write_config(
        tmp_path,
        "http://127.0.0.1:1",
        extra=f"state: sqlite:///{tmp_path / 'state.db'}\n"
        "schemas:\n  customer@2: {file: customer-2.json}\n"
        "tools:\n  getItem: {output: customer@2}\n",
    )
    first = run("schemas", "check", "-c", str(config), env=ENV)
    assert first.returncode == 0, first.stderr
    assert "customer@2: new — declared by getItem" in first.stdout
    assert run("schemas", "check", "--accept", "-c", str(config), env=ENV).returncode == 0
    assert "customer@2: unchanged" in run("schemas", "check", "-c", str(config), env=ENV).stdout

    schema.write_text(
        '{"type": "object", "required": ["customer_id", "email"], "properties": {"customer_id": {"type": "string"}}}'
    )
    broken = run("schemas", "check", "-c", str(config), env=ENV)
    assert broken.returncode == 3
    assert "customer@2: changed in place, breaks getItem" in broken.stdout
    assert "/required: 'email' is now required (breaks backends)" in broken.stdout
    assert "publish a new version" in broken.stderr
