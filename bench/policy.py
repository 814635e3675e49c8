"""Benchmark: what one authorization decision costs on the hot path.

    .venv/bin/python -m bench.policy

Measures CedarAuthorizer.explain (context building + Cedar evaluation with the parsed policy
set and entities) for a small and a larger set (200 roles, 400 tools, 50 forbid rules), a
listing of 400 tools, and result checks (Action::"read" with context.result): one record,
and a list of 100 records decided item by item in one batch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from pasarela.catalog import ToolAnnotations, ToolSpec
from pasarela.identity import Principal
from pasarela.pipeline import Call, Door
from pasarela.policy import CedarAuthorizer, PolicySource

RESULT_RULE = """
@id("own-region") forbid(principal, action == Action::"read", resource)
unless { context.result has region && principal has region && context.result.region == principal.region };
"""


def measure(label: str, work: Callable[[], object], repeat: int = 2000) -> None:
    for _ in range(100):
        work()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    samples.sort()
    p50 = statistics.median(samples) * 1e6
    p99 = samples[int(0.99 * len(samples))] * 1e6
    print(f"{label:58s} p50 {p50:8.1f} µs   p99 {p99:8.1f} µs")


def main() -> None:
    obj = {"type": "object"}
    tools = [
        ToolSpec(
            f"tool_{i}",
            "",
            obj,
            f"backend_{i % 20}",
            f"op{i}",
            annotations=ToolAnnotations(read_only=i % 2 == 0),
        )
        for i in range(400)
    ]
    roles = {f"role_{r}": [f"tool_{(r * 7 + k) % 400}" for k in range(30)] for r in range(200)}
    forbids = "\n".join(
        f'@id("rule-{n}") forbid(principal, action == Action::"call", resource == Tool::"tool_{n}") '
        f"when {{ context.args has amount && context.args.amount > {n * 100} }};"
        for n in range(50)
    )
    principal = Principal("agent-1", frozenset({"role_0", "role_1", "role_2"}), {"region": "EU"})
    small = CedarAuthorizer({"role_0": ["tool_0", "tool_7"]}, [], [principal], tools[:10])
    large = CedarAuthorizer(roles, [PolicySource("policies", forbids, "policies")], [principal], tools)
    args = {"amount": 250, "customer_id": "12345", "note": "x" * 200}
    measure(
        "decision: 1 role, 10 tools, no ABAC",
        lambda: small.explain(principal, tools[0], args, door=Door.REST),
    )
    measure(
        "decision: 200 roles, 400 tools, 50 forbid rules",
        lambda: large.explain(principal, tools[0], args, door=Door.REST),
    )
    measure(
        "decision: same, denied by a forbid",
        lambda: large.explain(principal, tools[7], {"amount": 10_000}, door=Door.REST),
    )

    def list_uncached() -> object:
        large._listed.clear()
        return large.visible(principal, tools, "mcp")

    measure("listing 400 tools (uncached)", list_uncached, repeat=50)
    measure("listing 400 tools (cached, 10 s)", lambda: large.visible(principal, tools, "mcp"), repeat=2000)

    sources = [PolicySource("policies", forbids + RESULT_RULE, "policies")]
    reads = CedarAuthorizer(roles, sources, [principal], tools)
    call = Call(principal, tools[0], {"customer_id": "12345"}, Door.REST, "bench")
    record = {
        "customer_id": "12345",
        "region": "EU",
        "name": "John Doe",
        "balance": 2450.75,
        "tags": ["a", "b"],
    }
    assert reads.guards_results(tools[0])
    measure("result check: one record", lambda: reads.decide_results(call, [record]))
    records = [dict(record, region="EU" if i % 2 else "US") for i in range(100)]
    measure("result check: a list of 100 records", lambda: reads.decide_results(call, records), repeat=200)


if __name__ == "__main__":
    main()
