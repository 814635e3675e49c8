"""Result policy through the whole pipeline: Cedar sees `context.result` after the backend
answers and before the agent, every caller is checked (cache included), denials are audited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from pasarela.assembly import Runtime, build_runtime
from pasarela.audit import search
from pasarela.config import load_config
from pasarela.errors import ConfigError
from tests.helpers.gateway import ENV, bearer, in_process, sha
from tests.policy import result_tools

pytestmark = pytest.mark.anyio

EU_KEY, ALL_KEY, US_KEY = "eu-agent-key-000001", "all-agent-key-00002", "us-agent-key-000003"
POLICIES = """
  - inline: |
      @id("results.own-region")
      @reason("this customer belongs to another region")
      forbid(principal, action == Action::"read", resource in Backend::"results")
      when { principal has region }
      unless { context.result has region && context.result.region == principal.region };

      @id("results.no-big-balances")
      forbid(principal, action == Action::"read", resource == Tool::"odd_result")
      when { context.result has balance && context.result.balance.greaterThan(decimal("1000.0")) };
"""


def config_text(tmp_path: Path, *, tools: str = "", policies: str = POLICIES) -> Path:
    path = tmp_path / "pasarela.yaml"
    path.write_text(
        f"""\
version: 1
state: sqlite:///{tmp_path / "state.db"}
shared: memory://
audit: {{flush_interval: 10ms}}
identity:
  api_keys:
    - {{principal: eu-agent, key_sha256: "{sha(EU_KEY)}", roles: [agent], attributes: {{region: EU}}}}
    - {{principal: us-agent, key_sha256: "{sha(US_KEY)}", roles: [agent], attributes: {{region: US}}}}
    - {{principal: all-agent, key_sha256: "{sha(ALL_KEY)}", roles: [agent]}}
backends:
  results: {{python: tests.policy.result_tools}}
tools:
  search_customers: {{result_items: page.customers, cache: {{ttl: 5m, scope: shared}}}}
  get_customer: {{cache: {{ttl: 5m, scope: shared}}}}
{tools}access:
  agent: ["*"]
policies:
{policies}"""
    )
    return path


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    result_tools.CALLS.clear()
    async with in_process(config_text(tmp_path)) as pair:
        yield pair


async def call(client: httpx.AsyncClient, key: str, tool: str, **arguments: object) -> httpx.Response:
    return await client.post(f"/v1/tools/{tool}:call", json={"arguments": arguments}, headers=bearer(key))


async def test_a_result_of_another_region_is_refused_and_audited_as_a_deny(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = gateway
    own = await call(client, EU_KEY, "get_customer", customer_id="1")
    assert own.status_code == 200 and own.json()["result"]["name"] == "Ana"
    other = await call(client, EU_KEY, "get_customer", customer_id="2")
    assert other.status_code == 403
    assert other.json()["code"] == "denied"
    assert "may not read this result" in other.json()["detail"]
    assert "another region" in other.json()["detail"]
    assert "Bob" not in other.text
    # No region in the result: the rule cannot show it is the caller's, so it is refused.
    unknown = await call(client, EU_KEY, "get_customer", customer_id="5")
    assert unknown.status_code == 403
    # An agent without a region attribute is not bound by the rule.
    anywhere = await call(client, ALL_KEY, "get_customer", customer_id="2")
    assert anywhere.status_code == 200 and anywhere.json()["result"]["region"] == "US"

    assert runtime.audit is not None
    await runtime.audit.flush()
    records = await search(runtime.state)
    summary = [(r["principal"], r["decision"], r["outcome"], json.loads(r["policies"])) for r in records]
    assert summary == [
        ("eu-agent", "allow", "ok", ["access.agent"]),
        ("eu-agent", "deny", "denied", ["results.own-region"]),
        ("eu-agent", "deny", "denied", ["results.own-region"]),
        ("all-agent", "allow", "ok", ["access.agent"]),
    ]


async def test_a_result_cached_for_one_caller_is_checked_again_for_the_next(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = gateway
    first = await call(client, ALL_KEY, "get_customer", customer_id="2")
    assert first.json()["meta"]["cache"] == "miss"
    # The shared cache holds Bob now; the EU agent still may not read him, nor may it fill the cache.
    again = await call(client, EU_KEY, "get_customer", customer_id="2")
    assert again.status_code == 403
    assert result_tools.CALLS["get_customer"] == 1, "served from the cache, and refused all the same"
    listed = await call(client, ALL_KEY, "search_customers", name="")
    assert listed.json()["meta"]["filtered"] == 0 and len(listed.json()["result"]["page"]["customers"]) == 5
    filtered = await call(client, EU_KEY, "search_customers", name="")
    assert filtered.json()["meta"]["cache"] == "hit"
    assert [c["name"] for c in filtered.json()["result"]["page"]["customers"]] == ["Ana", "Dora"]
    assert filtered.json()["meta"]["filtered"] == 3
    # The cached copy itself was not cut down: the next caller sees what is theirs.
    us = await call(client, US_KEY, "search_customers", name="")
    assert [c["name"] for c in us.json()["result"]["page"]["customers"]] == ["Bob"]
    assert result_tools.CALLS["search_customers"] == 1


async def test_items_of_a_bare_list_are_filtered_and_counted(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = gateway
    listed = await call(client, US_KEY, "list_customers")
    assert listed.status_code == 200
    assert listed.json()["result"] == [{"customer_id": "2", "name": "Bob", "region": "US"}]
    assert listed.json()["meta"]["filtered"] == 4
    everyone = await call(client, ALL_KEY, "list_customers")
    assert len(everyone.json()["result"]) == 5 and everyone.json()["meta"]["filtered"] == 0


@pytest.mark.parametrize(
    ("kind", "status", "detail"),
    [
        ("float", 200, None),  # a decimal, compared as one
        ("nan", 403, "results.no-big-balances"),  # no decimal: a string, so the forbid errs, and denies
        ("huge", 403, "results.no-big-balances"),  # beyond 64 bits: a string, likewise
        ("deep", 403, "nested more than 32 levels"),
        ("deep_unread", 200, None),  # only the fields policies read are shown to Cedar
        ("entity", 403, "which Cedar reserves"),  # data must not turn into an entity reference
        ("wide", 403, "more than 10000 values"),
        ("scalar", 403, "results.own-region"),  # `has` on a number errs: each forbid denies
    ],
)
async def test_results_cedar_cannot_hold_are_refused_not_half_checked(
    gateway: tuple[httpx.AsyncClient, Runtime], kind: str, status: int, detail: str | None
) -> None:
    client, runtime = gateway
    answer = await call(client, EU_KEY, "odd_result", kind=kind)
    assert answer.status_code == status, answer.text
    if detail is not None and "results." not in detail:
        assert detail in answer.json()["detail"]
    if detail is not None and "results." in detail:
        assert runtime.audit is not None
        await runtime.audit.flush()
        assert detail in json.loads((await search(runtime.state))[-1]["policies"])


async def test_write_tools_results_are_not_checked(gateway: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = gateway
    moved = await call(client, EU_KEY, "move_customer", customer_id="1", region="US")
    assert moved.status_code == 200 and moved.json()["result"]["region"] == "US"
    tool = runtime.gateway.catalog.get("move_customer")
    assert not runtime.authorizer.guards_results(tool)


async def test_results_are_not_checked_when_no_policy_reads_them(tmp_path: Path) -> None:
    runtime = await build_runtime(load_config(config_text(tmp_path, policies="  []\n"), environ=ENV))
    try:
        assert not any(runtime.authorizer.guards_results(t) for t in runtime.gateway.catalog)
    finally:
        await runtime.aclose()


async def test_a_log_only_result_rule_logs_and_does_not_deny(tmp_path: Path) -> None:
    shadow = POLICIES.replace("  - inline: |", "  - mode: log_only\n    inline: |")
    async with in_process(config_text(tmp_path, policies=shadow)) as (client, _):
        answer = await call(client, EU_KEY, "get_customer", customer_id="2")
        assert answer.status_code == 200


@pytest.mark.parametrize(
    ("tools", "key", "message"),
    [
        (
            "  move_customer: {result_items: customers}\n",
            "tools.move_customer.result_items",
            "read-only tools only",
        ),
        (
            "  list_customers: {result_items: 'page..customers'}\n",
            "tools.list_customers.result_items",
            "path of keys",
        ),
    ],
)
def test_result_items_are_checked_at_load(tmp_path: Path, tools: str, key: str, message: str) -> None:
    import anyio

    async def build() -> None:
        runtime = await build_runtime(load_config(config_text(tmp_path, tools=tools), environ=ENV))
        await runtime.aclose()

    with pytest.raises(ConfigError) as raised:
        anyio.run(build)
    assert key in str(raised.value) and message in str(raised.value)
