"""The catalog's BM25 index: what a tool is found by, what a search returns, and its recall
on the real Twilio description with the 50 requests of bench/data/twilio_requests.json."""

from __future__ import annotations

import pytest
from bench.tool_search import measure, twilio_tools

from pasarela.catalog.search import ToolIndex, tool_text, words_of_name
from pasarela.catalog.spec import ToolSpec

pytestmark = pytest.mark.anyio


def spec(name: str, description: str, **properties: str) -> ToolSpec:
    schema = {
        "type": "object",
        "properties": {k: {"type": "string", "description": v} for k, v in properties.items()},
    }
    return ToolSpec(name=name, description=description, input_schema=schema, backend="b", origin=name)


def test_names_are_split_into_words() -> None:
    assert words_of_name("CreateIncomingPhoneNumber") == "Create Incoming Phone Number"
    assert words_of_name("get_customer_info") == "get customer info"
    assert words_of_name("ListSIPDomains") == "List SIP Domains"
    assert words_of_name("api.v2-fetch") == "api v2 fetch"
    text = tool_text(spec("getLoan", "One loan", loan_id="Which loan"))
    assert text.count("get Loan") == 2 and "loan id" in text and "Which loan" in text


def test_search_ranks_stemmed_words_and_keeps_to_the_allowed() -> None:
    index = ToolIndex(
        [
            spec("send_message", "Send a text message to a phone", to="The phone number"),
            spec("list_messages", "Messages sent and received"),
            spec("delete_account", "Close an account for good"),
        ]
    )
    everything = ["send_message", "list_messages", "delete_account"]
    found = [tool.name for tool, _ in index.search("texting: send messages", everything, 5)]
    assert found[0] == "send_message" and "delete_account" not in found
    assert [t.name for t, _ in index.search("send messages", ["list_messages"], 5)] == ["list_messages"]
    assert index.search("close the account", ["send_message"], 5) == []  # only what the caller may see
    assert index.search("the and of", everything, 5) == []  # stop words alone match nothing
    assert index.search("send", everything, 0) == []
    assert ToolIndex([]).search("anything", [], 5) == []


async def test_recall_on_twilio() -> None:
    figures = measure(await twilio_tools())
    print(figures)
    assert figures.tools == 197 and figures.requests == 50
    # Measured 84% top-5 and 56% top-1 (docs/performance.md); a change to the ranking that loses
    # more than a couple of requests fails here.
    assert figures.top5_recall >= 0.8
    assert figures.top1_recall >= 0.5
    assert figures.list_search_tokens * 50 < figures.list_all_tokens
