"""Composite tools through the whole pipeline: chaining, fan-out, routing, partial success."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp_types import TextContent

from pasarela.assembly import Runtime
from pasarela.audit import search
from pasarela.pipeline import Door
from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, bearer, gateway_for, write_config
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import serving
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream, echo
from tests.orchestration import step_tools

pytestmark = pytest.mark.anyio

BACKENDS = "  steps:\n    python: tests.orchestration.step_tools\n"
COMPOSITES = """composites:
  overview:
    description: Two independent holds, a fan-out over ids, and a greeting built from the input
    input: {type: object, properties: {name: {type: string}, count: {type: integer}}, required: [name, count]}
    steps:
      first: {tool: hold, arguments: {seconds: "`0.2`", tag: "'first'"}}
      second: {tool: hold, arguments: {seconds: "`0.2`", tag: "'second'"}}
      list: {tool: ids, arguments: {count: input.count}}
      each:
        tool: hold
        for_each: steps.list
        max_concurrency: 2
        arguments: {seconds: "`0.1`", tag: item}
      hello: {tool: greet, arguments: {name: input.name}}
    result: "{greeting: steps.hello.text, tags: steps.each[*].tag, first: steps.first.tag}"
  partial:
    description: One optional source fails, one is denied to the reader, the rest answer
    steps:
      hello: {tool: greet, arguments: {name: "'Ana'"}}
      score: {tool: fail_loudly, required: false}
      write: {tool: createItem, arguments: {name: "'x'"}, required: false}
    result: "{greeting: steps.hello.text, score: steps.score}"
  route:
    description: Critical goes one way, the rest another
    input: {type: object, properties: {priority: {type: string}}}
    steps:
      open:
        switch:
          - {when: "input.priority == 'critical'", tool: greet, arguments: {name: "'on-call'"}}
          - {tool: add_numbers, arguments: {a: "`1`", b: "`2`"}}
    result: steps.open
  strict:
    description: A required step fails the whole composite
    steps:
      score: {tool: fail_loudly}
    result: steps.score
  backwards:
    description: A chain declared last step first; each step needs the one before
    input: {type: object, properties: {fail: {type: boolean}}}
    steps:
      third: {tool: add_numbers, arguments: {a: steps.second, b: "`100`"}}
      second: {tool: add_numbers, arguments: {a: steps.first, b: "`10`"}}
      first:
        switch:
          - {when: input.fail, tool: fail_loudly}
          - {tool: add_numbers, arguments: {a: "`1`", b: "`2`"}}
    result: "{sum: steps.third, order: [steps.first, steps.second, steps.third]}"
access:
  reader: [overview, partial, route, strict, backwards, greet, hold, ids, fail_loudly, add_numbers]
"""


async def call(
    client: httpx.AsyncClient, tool: str, arguments: dict[str, object], key: str = READER_KEY
) -> httpx.Response:
    return await client.post(f"/v1/tools/{tool}:call", json={"arguments": arguments}, headers=bearer(key))


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    extra = COMPOSITES.replace("access:\n  reader:", "access:\n  writer: ['*']\n  reader:")
    async with gateway_for(
        tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=extra, audit=True
    ) as pair:
        yield pair


async def test_independent_steps_overlap_and_for_each_honours_its_limit(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = gateway
    step_tools.IN_FLIGHT.update(now=0, max=0)
    answer = await call(client, "overview", {"name": "Ada", "count": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["result"]["greeting"].startswith("Hello, Ada")
    assert body["result"]["tags"] == [f"id-{n}" for n in range(5)], "fan-out results keep their order"
    assert body["result"]["first"] == "first"
    assert body["meta"]["partial"] is False
    assert [s["step"] for s in body["meta"]["steps"]] == ["first", "second", "list", "each", "hello"]
    # first, second and each (which waits only for list) overlap; each alone holds at most 2 at once.
    assert step_tools.IN_FLIGHT["max"] >= 2
    step_tools.IN_FLIGHT.update(now=0, max=0)
    await call(client, "overview", {"name": "Ada", "count": 6})
    assert step_tools.IN_FLIGHT["max"] <= 4, "two holds plus for_each's two"


async def test_partial_success_reports_what_failed_and_what_was_denied(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = gateway
    answer = await call(client, "partial", {})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["result"] == {"greeting": "Hello, Ana!", "score": None}
    assert body["meta"]["partial"] is True
    errors = {e["step"]: e for e in body["meta"]["errors"]}
    assert errors["score"]["code"] == "upstream_error"
    assert errors["write"]["code"] == "denied", "the reader may not create items: the step is denied"
    assert "x" not in errors["write"]["detail"]


async def test_routing_picks_the_tool_by_the_input(gateway: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _ = gateway
    critical = (await call(client, "route", {"priority": "critical"})).json()
    normal = (await call(client, "route", {"priority": "low"})).json()
    assert critical["result"]["text"].startswith("Hello, on-call")
    assert normal["result"] == 3
    assert [s["tool"] for s in critical["meta"]["steps"]] == ["greet"]
    assert [s["tool"] for s in normal["meta"]["steps"]] == ["add_numbers"]


async def test_a_required_step_failing_fails_the_composite_naming_the_step(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = gateway
    answer = await call(client, "strict", {})
    assert answer.status_code == 502
    assert (answer.json()["code"], answer.json()["step"]) == ("upstream_error", "score")


async def test_a_chain_runs_in_dependency_order_whatever_order_it_is_declared_in(
    gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = gateway
    assert runtime.gateway.composite_plan("backwards").sequential
    answer = await call(client, "backwards", {})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == {"sum": 113, "order": [3, 13, 113]}
    failed = await call(client, "backwards", {"fail": True})
    assert failed.status_code == 502
    assert failed.json()["step"] == "first"
    overview = runtime.gateway.composite_plan("overview")
    assert not overview.sequential


async def test_the_trail_shows_the_tree(gateway: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = gateway
    answer = await call(client, "route", {"priority": "low"}, key=WRITER_KEY)
    assert answer.status_code == 200
    assert runtime.audit is not None
    await runtime.audit.flush()
    records = await search(runtime.state)
    parent = next(r for r in records if r["tool"] == "route")
    [child] = [r for r in records if r["tool"] == "add_numbers"]
    assert str(child["request_id"]).startswith(f"{parent['request_id']}-composite-")
    assert (child["parent_id"], child["via"]) == (parent["request_id"], "composite")
    assert (parent["parent_id"], parent["via"]) == (None, None)
    assert (parent["principal"], child["principal"]) == ("writer", "writer")


SLOW = """composites:
  slow_overview:
    description: One step outlives the composite's deadline
    timeout: 1500ms  # the quick step's first call must fit, on a busy machine too
    steps:
      quick: {tool: greet, arguments: {name: "'Ana'"}}
      late: {tool: hold, arguments: {seconds: "`5`"}, required: false}
    result: "{greeting: steps.quick.text, late: steps.late}"
access:
  reader: [slow_overview, greet, hold]
"""


async def test_the_deadline_cuts_a_slow_step_and_cancelling_stops_steps_in_flight(tmp_path: Path) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=SLOW) as (
        client,
        runtime,
    ):
        answer = await call(client, "slow_overview", {})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["result"] == {"greeting": "Hello, Ana!", "late": None}
        assert [(e["step"], e["code"]) for e in body["meta"]["errors"]] == [("late", "upstream_timeout")]

        step_tools.IN_FLIGHT.update(now=0, max=0)
        reader = next(p for p in runtime.authenticator.api_keys.principals() if p.id == "reader")
        with anyio.move_on_after(0.1):  # the agent goes away while `late` holds
            await runtime.gateway.call(reader, "slow_overview", {}, door=Door.REST)
        assert step_tools.IN_FLIGHT["max"] == 1, "the slow step had started"
        assert step_tools.IN_FLIGHT["now"] == 0, "and was cancelled with its composite"


async def test_over_mcp_a_partial_answer_is_not_an_error_and_says_what_is_missing(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, "http://127.0.0.1:9", port=port, backends=BACKENDS, extra=COMPOSITES)
    with serving(config, port, ENV) as url:
        async with mcp_http_client(f"{url}/mcp", READER_KEY) as client:
            result = await client.call_tool("partial", {})
    assert not result.is_error
    assert result.structured_content == {"greeting": "Hello, Ana!", "score": None}
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    assert "note: score (fail_loudly) temporarily unavailable" in texts[-1]
    assert "note: write (createItem) not permitted" in texts[-1]


WRITE_THEN_FAIL = """composites:
  write_then_fail:
    description: A write, then a required step that fails
    steps:
      write: {tool: createItem, arguments: {name: "'order-1'"}}
      check: {tool: fail_loudly, when: steps.write}
    result: steps.write
"""


async def test_a_retried_composite_replays_its_writes_instead_of_repeating_them(tmp_path: Path) -> None:
    recorder = RecordingUpstream(echo)
    with ThreadedServer(recorder) as upstream:
        async with gateway_for(tmp_path, upstream.url, backends=BACKENDS, extra=WRITE_THEN_FAIL) as (
            client,
            _,
        ):
            headers = {**bearer(WRITER_KEY), "Idempotency-Key": "composite-order-1"}
            for _ in range(2):
                answer = await client.post(
                    "/v1/tools/write_then_fail:call", json={"arguments": {}}, headers=headers
                )
                assert (answer.status_code, answer.json()["step"]) == (502, "check")
        writes = [s for s in recorder.seen if s.method == "POST"]
    assert len(writes) == 1, "the retry's write step replayed the first attempt's outcome"


SHAPED = """schemas:
  greeting@1:
    type: object
    required: [greeting]
    properties: {greeting: {type: string}}
composites:
  shaped:
    description: Its result is held to a registry schema
    input: {type: object, properties: {name: {type: string}}}
    steps:
      hello: {tool: greet, arguments: {name: input.name}}
    result: "{greeting: steps.hello.text}"
    output: greeting@1
  misshapen:
    description: Its result breaks its schema
    steps:
      hello: {tool: greet, arguments: {name: "'Ana'"}}
    result: "{greeting: `42`}"
    output: greeting@1
access:
  reader: [shaped, misshapen, greet]
"""


async def test_a_composites_output_is_validated_and_advertised(tmp_path: Path) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=SHAPED) as (
        client,
        runtime,
    ):
        assert (await call(client, "shaped", {"name": "Ada"})).json()["result"] == {"greeting": "Hello, Ada!"}
        broken = await call(client, "misshapen", {})
        assert (broken.status_code, broken.json()["code"]) == (502, "upstream_contract")
        spec = runtime.gateway.catalog.get("shaped")
        assert spec.output_schema is not None and spec.output_schema["required"] == ["greeting"]


async def test_python_tools_call_other_tools_as_their_caller(tmp_path: Path) -> None:
    identity = '    - {principal: coder, key: "coder-key-00000001", roles: [coder]}\n'
    extra = "access:\n  reader: [greet_and_hold, greet, hold]\n  coder: [greet_and_hold]\n"
    async with gateway_for(
        tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=extra, identity=identity, audit=True
    ) as (client, runtime):
        tools = (await client.get("/v1/tools", headers=bearer(READER_KEY))).json()["tools"]
        [spec] = [t for t in tools if t["name"] == "greet_and_hold"]
        assert set(spec["inputSchema"]["properties"]) == {"name"}, "the context is not an argument"
        answer = await call(client, "greet_and_hold", {"name": "Ada"})
        assert answer.json()["result"] == {"hello": "Hello, Ada!", "tag": "Ada"}
        # A caller who may use the tool but not what it calls gets the inner refusal.
        refused = await call(client, "greet_and_hold", {"name": "Ada"}, key="coder-key-00000001")
        assert refused.json()["code"] == "denied"
        assert runtime.audit is not None
        await runtime.audit.flush()
        records = await search(runtime.state)
    parent = next(r for r in records if r["tool"] == "greet_and_hold" and r["principal"] == "reader")
    children = [r for r in records if str(r["request_id"]).startswith(f"{parent['request_id']}-")]
    assert sorted(r["tool"] for r in children) == ["greet", "hold"]


BAD_EXPRESSION = """composites:
  odd:
    description: An argument expression that fails on the data it meets
    steps:
      list: {tool: ids, arguments: {count: "`2`"}}
      each: {tool: greet, for_each: steps.list, arguments: {name: "abs(item)"}, required: false}
    result: "{each: steps.each}"
access:
  reader: [odd, ids, greet]
"""


async def test_an_expression_failing_on_the_data_fails_its_step_not_the_gateway(tmp_path: Path) -> None:
    async with gateway_for(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=BAD_EXPRESSION) as (
        client,
        _,
    ):
        answer = await call(client, "odd", {})
    assert answer.status_code == 200, answer.text
    [error] = answer.json()["meta"]["errors"]
    assert (error["step"], error["code"]) == ("each", "internal")
    assert "could not be evaluated" in error["detail"]
