"""Tool search on the real Twilio API v2010 description (197 operations): recall and list size.

    .venv/bin/python -m bench.tool_search            # the figures, and each request that missed
    .venv/bin/python -m bench.tool_search --json     # the figures as JSON

Recall: for each of the 50 hand-written requests in bench/data/twilio_requests.json, whether an
operation that fulfils it is among the first 1 / 5 tools `search_tools` returns (the gateway's
own index, catalog/search.py; every tool visible). Size: the `tools/list` answer an agent reads
(the MCP tool entries, JSON) with every tool listed and in discovery mode (search_tools and
call_tool), and a `search_tools` answer of 5 tools, in tokens of OpenAI's cl100k_base encoding
(counted by bpe-openai, whose tables ship in its wheel); without it, characters / 4, said so.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

from pasarela.catalog import Catalog, ToolSpec
from pasarela.catalog.discovery import Discovery
from pasarela.catalog.formats import mcp
from pasarela.config.backends import OpenApiBackend
from pasarela.config.tool_search import ToolSearchSettings
from pasarela.connectors.openapi import OpenApiConnector
from pasarela.secrets import Redactor

ROOT = Path(__file__).resolve().parent.parent
TWILIO = ROOT / "tests" / "fixtures" / "openapi" / "twilio" / "twilio_api_v2010.json"
REQUESTS = Path(__file__).resolve().parent / "data" / "twilio_requests.json"
TOP = 5


@dataclass(frozen=True)
class Figures:
    tools: int
    requests: int
    top1_recall: float
    top5_recall: float
    tokenizer: str
    list_all_tokens: int
    list_search_tokens: int
    search_answer_tokens: float  # mean over the requests, limit 5
    index_ms: float  # building the index of the whole catalog
    search_ms: float  # one search_tools answer, mean over the requests
    misses: list[dict[str, Any]]


async def twilio_tools() -> list[ToolSpec]:
    connector = OpenApiConnector(
        "twilio", OpenApiBackend(openapi=str(TWILIO)), base_dir=ROOT, redactor=Redactor(), source="bench"
    )
    try:
        return await connector.load()
    finally:
        await connector.aclose()


def token_counter() -> tuple[str, Callable[[str], int]]:
    try:
        import bpe_openai
    except ImportError:
        return "characters / 4 (bpe-openai not installed)", lambda text: round(len(text) / 4)
    encoding = bpe_openai.get_encoding("cl100k_base")
    return "cl100k_base (bpe-openai)", lambda text: len(encoding.encode(text))


def listing_text(tools: Sequence[ToolSpec]) -> str:
    """A tools/list result as the agent's client puts it in the model's context."""
    return json.dumps({"tools": [mcp(tool) for tool in tools]})


def measure(tools: list[ToolSpec]) -> Figures:
    requests = json.loads(REQUESTS.read_text())["requests"]
    started = time.perf_counter()
    discovery = Discovery(ToolSearchSettings(roles=["agent"]), Catalog(tools, source="bench"))
    index_ms = (time.perf_counter() - started) * 1000
    names = [tool.name for tool in tools]
    missing = sorted({name for r in requests for name in r["expected"]} - set(names))
    if missing:
        raise SystemExit(f"{REQUESTS}: expected operations not in the description: {missing}")
    tokenizer, count = token_counter()
    top1 = top5 = 0
    answers: list[int] = []
    searching = 0.0
    misses = []
    for item in requests:
        found = [tool.name for tool, _ in discovery.index.search(item["request"], names, TOP)]
        expected = set(item["expected"])
        top1 += bool(found[:1] and found[0] in expected)
        top5 += bool(expected & set(found))
        if not expected & set(found):
            misses.append({"request": item["request"], "expected": item["expected"], "found": found})
        started = time.perf_counter()
        answer = discovery.search(tools, {"query": item["request"], "limit": TOP})
        searching += time.perf_counter() - started
        answers.append(count(json.dumps(answer)))
    return Figures(
        tools=len(tools),
        requests=len(requests),
        top1_recall=top1 / len(requests),
        top5_recall=top5 / len(requests),
        tokenizer=tokenizer,
        list_all_tokens=count(listing_text(tools)),
        list_search_tokens=count(listing_text(discovery.listed(tools))),
        search_answer_tokens=sum(answers) / len(answers),
        index_ms=index_ms,
        search_ms=searching * 1000 / len(requests),
        misses=misses,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = measure(anyio.run(twilio_tools))
    if args.json:
        print(json.dumps(asdict(figures), indent=2))
        return
    print(f"Twilio API v2010: {figures.tools} tools, {figures.requests} requests")
    print(f"top-1 recall: {figures.top1_recall:.0%}   top-{TOP} recall: {figures.top5_recall:.0%}")
    print(f"tokens ({figures.tokenizer}):")
    print(f"  tools/list, every tool:        {figures.list_all_tokens:>8,}")
    print(f"  tools/list, discovery mode:    {figures.list_search_tokens:>8,}")
    print(f"  one search_tools answer (5):   {figures.search_answer_tokens:>8,.0f} (mean)")
    print(f"index built in {figures.index_ms:.0f} ms; one search_tools answer in {figures.search_ms:.2f} ms")
    for miss in figures.misses:
        print(f"  missed: {miss['request']!r}: expected {miss['expected']}, found {miss['found']}")


if __name__ == "__main__":
    main()
