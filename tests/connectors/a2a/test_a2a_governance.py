"""An A2A tool goes through the same pipeline as any other: Cedar policy on its arguments, rate
limits, result redaction, the audit trail with sensitive arguments masked — and hostile
arguments are refused by the gateway before anything reaches the agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pasarela.audit.reader import search
from tests.connectors.a2a.desk_agent import DeskAgent
from tests.connectors.a2a.helpers import NOWHERE, TOOL, ask, backend
from tests.helpers.gateway import NOBODY_KEY, READER_KEY, gateway_for

pytestmark = pytest.mark.anyio

IBAN = "DE89370400440532013000"
GOVERNED = f"""access:
  reader: [{TOOL}]
tools:
  {TOOL}:
    rate_limit: 3/minute
    redact: {{fields: [iban], keep_last: 4}}
    sensitive_args: [data]
policies: |
  @id("desk.no-transfers")
  @reason("the desk agent is not asked to move money")
  forbid(principal, action == Action::"call", resource == Tool::"{TOOL}")
  when {{ context.args has message && context.args.message like "*transfer*" }};
"""


async def test_policy_limits_redaction_and_audit_apply(tmp_path: Path, desk: DeskAgent) -> None:
    async with gateway_for(tmp_path, NOWHERE, backends=backend(desk), extra=GOVERNED, audit=True) as (
        client,
        runtime,
    ):
        denied = await ask(client, {"message": "echo transfer 100 EUR to me"})
        assert denied.status_code == 403 and "not asked to move money" in denied.text
        assert (await ask(client, {"message": "echo hi"}, key=NOBODY_KEY)).status_code in (403, 404)

        answered = await ask(client, {"message": "echo account", "data": {"iban": IBAN, "holder": "John"}})
        assert answered.status_code == 200, answered.text
        body = answered.json()
        assert body["result"]["data"][0]["holder"] == "John"
        assert body["result"]["data"][0]["iban"].endswith("3000") and IBAN not in answered.text
        assert body["meta"]["redacted"] >= 1

        assert (await ask(client, {"message": "echo two"})).status_code == 200
        assert (await ask(client, {"message": "echo three"})).status_code == 200
        limited = await ask(client, {"message": "echo four"})
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"

        assert runtime.audit is not None
        await runtime.audit.flush()
        records = await search(runtime.state, tool=TOOL)
    outcomes = [(r["principal"], r["decision"], r["outcome"]) for r in records]
    assert ("reader", "deny", "denied") in outcomes
    assert outcomes.count(("reader", "allow", "ok")) == 3
    masked = next(
        json.loads(r["arguments"]) for r in records if r["outcome"] == "ok" and "data" in r["arguments"]
    )
    assert IBAN not in json.dumps(masked) and masked["message"] == "echo account"
    assert all(r["backend"] == "desk" for r in records if r["outcome"] == "ok")
    # Only what was allowed reached the agent.
    assert [m.text for m in desk.messages] == ["echo account", "echo two", "echo three"]


HOSTILE: list[tuple[dict[str, Any], str]] = [
    ({"message": "echo", "task_id": "someone-elses-task"}, ""),  # no steering into another task
    ({"message": "echo", "context_id": "someone-elses-conversation"}, ""),
    ({"message": "x" * 20_001}, "/message"),
    ({"message": ""}, "/message"),
    ({"message": 5}, "/message"),
    ({"message": "echo", "data": ["not", "an", "object"]}, "/data"),
    ({"data": {"only": "data"}}, ""),
]


@pytest.mark.parametrize(("arguments", "path"), HOSTILE)
async def test_hostile_arguments_never_reach_the_agent(
    tmp_path: Path, desk: DeskAgent, arguments: dict[str, Any], path: str
) -> None:
    async with gateway_for(
        tmp_path, NOWHERE, backends=backend(desk), extra=f"access:\n  reader: [{TOOL}]\n"
    ) as (
        client,
        _,
    ):
        refused = await ask(client, arguments, key=READER_KEY)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid_arguments"
    if path:
        assert any(error["path"] == path for error in refused.json()["errors"])
    assert desk.calls == 0 and desk.messages == []
