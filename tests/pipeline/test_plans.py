"""One plan per tool, compiled once at load."""

from __future__ import annotations

from pathlib import Path

import anyio

from pasarela.assembly import build_runtime
from pasarela.config import load_config
from pasarela.plans import ToolPlan, compile_plans
from tests.helpers.gateway import ENV, write_config

EXTRA = """tools:
  getItem:
    timeout: 1500ms
    cache: {ttl: 1m}
    fallback: [cache]
    transform: "{id: item_id}"
    redact: {fields: [secret]}
    sensitive_args: [item_id]
    result_items: items.all
"""


def test_every_tool_gets_a_plan_with_its_settings_compiled(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", extra=EXTRA), environ=ENV)
    plans = compile_plans(config.settings, ["getItem", "greet"], {})
    plan = plans["getItem"]
    assert (plan.timeout, plan.fallback, plan.sensitive_args) == (1.5, ("cache",), frozenset({"item_id"}))
    assert plan.cache is not None and plan.cache.ttl == 60
    assert plan.masking is not None and plan.result_items == ("items", "all")
    assert plans["greet"] == ToolPlan("greet"), "a tool `tools:` says nothing of has the default plan"


def test_the_runtime_compiles_the_transform_once_into_the_plan(tmp_path: Path) -> None:
    extra = EXTRA.replace("    result_items: items.all\n", "")
    config = write_config(tmp_path, "http://127.0.0.1:9", extra=extra + f"state: sqlite:///{tmp_path}/s.db\n")

    async def plans() -> ToolPlan:
        runtime = await build_runtime(load_config(config, environ=ENV), read_only=True)
        try:
            return runtime.gateway.plan_of("getItem")
        finally:
            await runtime.aclose()

    plan = anyio.run(plans)
    assert plan.contract is not None and plan.contract.transform is not None
    assert plan.contract.transform.search({"item_id": "7"}) == {"id": "7"}
