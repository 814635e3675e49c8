"""Policies from pasarela.yaml, through the whole gateway and the CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pasarela.assembly import build_runtime
from pasarela.config import load_config
from pasarela.errors import ConfigError
from tests.helpers.gateway import ENV, READER_KEY, bearer, in_process, write_config
from tests.helpers.processes import run_pasarela
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.anyio
REGION_POLICY = """
policies: |
  @id("item-7-is-secret")
  @reason("item 7 is under legal hold")
  forbid(principal, action == Action::"call", resource == Tool::"getItem")
  when { context.args has item_id && context.args.item_id == "7" };
"""


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    recorder = RecordingUpstream()
    with ThreadedServer(recorder) as server:
        recorder.url = server.url  # type: ignore[attr-defined]
        yield recorder


async def test_a_forbid_in_config_denies_with_its_reason(tmp_path: Path, upstream: RecordingUpstream) -> None:
    config = write_config(tmp_path, upstream.url, extra=REGION_POLICY)  # type: ignore[attr-defined]
    async with in_process(config) as (client, _):
        denied = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "7"}}, headers=bearer(READER_KEY)
        )
        allowed = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "8"}}, headers=bearer(READER_KEY)
        )
    assert denied.status_code == 403
    assert "item 7 is under legal hold" in denied.json()["detail"]
    assert allowed.status_code == 200
    assert [s.raw_path for s in upstream.seen] == ["/items/8"]


async def test_policy_files_and_log_only_sources(tmp_path: Path, upstream: RecordingUpstream) -> None:
    (tmp_path / "freeze.cedar").write_text(
        '@id("freeze") forbid(principal, action == Action::"call", resource);'
    )
    extra = "policies:\n  - {file: freeze.cedar, mode: log_only}\n"
    config = write_config(tmp_path, upstream.url, extra=extra)  # type: ignore[attr-defined]
    async with in_process(config) as (client, runtime):
        response = await client.post(
            "/v1/tools/getItem:call", json={"arguments": {"item_id": "1"}}, headers=bearer(READER_KEY)
        )
        decision = runtime.authorizer.explain(
            runtime.authenticator.local_principal("reader"),
            runtime.gateway.catalog.get("getItem"),
            {},
            door="rest",
        )
    assert response.status_code == 200, "log_only policies never deny"
    assert decision.shadow is not None
    assert [p.label for p in decision.shadow.policies] == ["freeze"]
    assert decision.shadow.policies[0].source == "freeze.cedar"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "policies: 'forbid(principal, action, resource) when { context.x == };'",
            "policies[0].inline: not valid Cedar",
        ),
        (
            "policies: 'forbid(principal, action, resource == Tool::\"getItme\");'",
            'policies[0].inline: Tool::"getItme" names no tool',
        ),
        ("policies:\n  - {file: missing.cedar}\n", "policies[0].file: cannot read"),
        (
            "policies:\n  - {inline: 'permit(principal, action, resource);', file: x.cedar}\n",
            "policies[0]: expected exactly one policy source",
        ),
        (
            "policies:\n  - {inline: 'permit(principal, action, resource);', mode: dry_run}\n",
            "policies[0].mode",
        ),
    ],
    ids=["syntax", "unknown-tool", "missing-file", "two-sources", "bad-mode"],
)
async def test_policy_problems_are_config_errors(
    tmp_path: Path, upstream: RecordingUpstream, extra: str, expected: str
) -> None:
    config = write_config(tmp_path, upstream.url, extra=extra)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as caught:
        await build_runtime(load_config(config, environ=ENV))
    assert any(expected in str(p) for p in caught.value.problems), caught.value


def test_policy_explain(tmp_path: Path, upstream: RecordingUpstream) -> None:
    config = write_config(tmp_path, upstream.url, extra=REGION_POLICY)  # type: ignore[attr-defined]

    def explain(*args: str) -> subprocess.CompletedProcess[str]:
        return run_pasarela("policy", "explain", "-c", str(config), *args, env=ENV)

    denied = explain("--as", "reader", "getItem", "--args", '{"item_id": "7"}')
    assert denied.returncode == 3, denied.stderr
    report = json.loads(denied.stdout)
    assert report["decision"] == "deny"
    assert report["policies"] == [
        {
            "policy": "item-7-is-secret",
            "effect": "forbid",
            "source": "policies[0]",
            "reason": "item 7 is under legal hold",
        }
    ]
    allowed = explain("--as", "reader", "getItem", "--args", '{"item_id": "1"}')
    assert allowed.returncode == 0
    assert json.loads(allowed.stdout)["policies"][0]["policy"] == "access.reader"
    nothing = explain("--as", "nobody", "getItem")
    assert json.loads(nothing.stdout) == {
        "principal": "nobody",
        "tool": "getItem",
        "decision": "deny",
        "policies": [],
        "errors": [],
    }
    assert explain("--as", "ghost", "getItem").returncode == 1, (
        "an unknown principal is a configuration error"
    )
    assert explain("--as", "reader", "getItem", "--on-behalf-of", "not json").returncode == 2
