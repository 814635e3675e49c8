"""`customer_overview` on the demo bank against its slowest step and the sum of its steps.

    .venv/bin/python -m bench.overview [--calls 100] [--latency 20ms]

Starts `pasarela demo` (with `--latency`, its systems answer that much later, as across a
network: PASARELA_DEMO_LATENCY), then, as the compliance bot (which may see every part), times each of
the overview's steps alone through the REST door, and the composite itself (p50 over `--calls`).
Independent steps run concurrently, so the composite should land near its slowest step (the
balances fan-out waits for the accounts) rather than near the sum.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.e2e.test_demo import running_demo

from bench.run import percentile

STEPS: list[tuple[str, dict[str, Any]]] = [
    ("get_customer_info", {"customer_id": "12345"}),
    ("get_customer_accounts", {"customer_id": "12345"}),
    ("get_account_balance", {"account_id": "ACC-1001"}),
    ("get_account_balance", {"account_id": "ACC-1002"}),
    ("get_account_balance", {"account_id": "ACC-1003"}),
    ("recent_transactions", {"account_id": "ACC-1001", "limit": 5}),
    ("get_customer_loans", {"customer_id": "12345"}),
    ("get_credit_score", {"customer_id": "12345"}),
]


def p50(http: httpx.Client, key: str, tool: str, arguments: dict[str, Any], calls: int) -> float:
    samples = []
    for index in range(calls + 10):
        started = time.perf_counter()
        answer = http.post(
            f"/tools/{tool}:call", json={"arguments": arguments}, headers={"Authorization": f"Bearer {key}"}
        )
        if answer.status_code != 200:
            raise RuntimeError(f"{tool}: {answer.status_code} {answer.text[:200]}")
        if index >= 10:  # warmed up
            samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--latency", default="", help="each demo system's added latency, e.g. 20ms")
    args = parser.parse_args()
    env = {"PASARELA_DEMO_LATENCY": args.latency} if args.latency else {}
    with tempfile.TemporaryDirectory() as scratch, running_demo(Path(scratch), env=env) as demo:
        key = demo.keys["compliance-bot"]
        with httpx.Client(base_url=demo.rest_url, timeout=30) as http:
            steps = [(tool, p50(http, key, tool, arguments, args.calls)) for tool, arguments in STEPS]
            overview = p50(http, key, "customer_overview", {"customer_id": "12345"}, args.calls)
    print("| call | p50 ms |\n|---|---|")
    for tool, latency in steps:
        print(f"| {tool} | {latency:.2f} |")
    print(f"| **customer_overview** | **{overview:.2f}** |")
    # The critical path: accounts, then the balances (concurrent), against the others in parallel.
    accounts = steps[1][1]
    balances = max(latency for tool, latency in steps if tool == "get_account_balance")
    others = [
        latency
        for tool, latency in steps
        if tool in ("get_customer_info", "get_customer_loans", "get_credit_score")
    ]
    transactions = next(latency for tool, latency in steps if tool == "recent_transactions")
    slowest = max(*others, accounts + balances, accounts + transactions)
    total = sum(latency for _, latency in steps)
    print(f"\nslowest path {slowest:.2f} ms, sum of steps {total:.2f} ms, overview {overview:.2f} ms")


if __name__ == "__main__":
    main()
