"""An upstream MCP server's sampling and elicitation requests, relayed to the agent's client on
the same session — allowed per backend, decided by policy, audited — with the official client
and a real upstream speaking each protocol era."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientRequestContext

from tests.helpers.asking_gateway import AskingGateway, asking_gateway
from tests.helpers.gateway import READER_KEY, WRITER_KEY
from tests.helpers.mcp_clients import mcp_http_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

# The tool names of the same upstream, spoken to in each era (tests/helpers/asking_gateway.py).
ERAS = {"upstream-2025": "asking_", "upstream-2026": "modern_"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AskingGateway]:
    with asking_gateway(tmp_path_factory.mktemp("mcp-relay")) as running:
        yield running


class Agent:
    """An agent's MCP client that answers sampling and elicitation, and remembers being asked."""

    def __init__(self) -> None:
        self.asked: list[Any] = []

    async def sample(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.asked.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="A short summary."),
            model="agent-llm",
        )

    async def elicit(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        self.asked.append(params)
        return types.ElicitResult(action="accept", content={"confirm": True, "reason": "the user agreed"})

    def options(self) -> dict[str, Any]:
        return {"sampling_callback": self.sample, "elicitation_callback": self.elicit}


async def audited(gateway: AskingGateway, outcome: str) -> list[tuple[str, str | None, str | None]]:
    """The audit records with `outcome`, once the writer has flushed them."""
    with anyio.fail_after(10):
        while not (found := [r for r in gateway.audit() if r[0] == outcome]):  # noqa: ASYNC110 - another process
            await anyio.sleep(0.05)
    return found


@pytest.mark.parametrize("era", ERAS)
async def test_sampling_reaches_the_agents_client_and_its_answer_the_upstream(
    gateway: AskingGateway, era: str
) -> None:
    agent = Agent()
    async with mcp_http_client(gateway.mcp_url, WRITER_KEY, mode="legacy", **agent.options()) as client:
        result = await client.call_tool(f"{ERAS[era]}summarize", {"text": "the quarterly report"})
    assert not result.is_error, result
    assert result.structured_content == {"summary": "A short summary.", "model": "agent-llm"}
    [asked] = agent.asked
    assert isinstance(asked, types.CreateMessageRequestParams)
    assert asked.max_tokens == 64
    assert asked.messages[0].content == types.TextContent(type="text", text="Summarise: the quarterly report")
    [(_, via, parent)] = [
        r for r in await audited(gateway, "sampling_relayed") if r[2] and era_call(gateway, r[2], era)
    ]
    assert via == "upstream" and parent is not None


def era_call(gateway: AskingGateway, request_id: str, era: str) -> bool:
    """Was `request_id` a call of this era's tool? (The audit names the parent call by id.)"""
    import sqlite3

    with sqlite3.connect(gateway.state) as db:
        row = db.execute("select tool from pasarela_audit where request_id = ?", (request_id,)).fetchone()
    return row is not None and str(row[0]).startswith(ERAS[era])


@pytest.mark.parametrize("era", ERAS)
async def test_elicitation_reaches_the_agents_user(gateway: AskingGateway, era: str) -> None:
    agent = Agent()
    async with mcp_http_client(gateway.mcp_url, WRITER_KEY, mode="legacy", **agent.options()) as client:
        result = await client.call_tool(f"{ERAS[era]}confirm", {"action": "close the account"})
    assert not result.is_error, result
    assert result.structured_content == {
        "action": "accept",
        "content": {"confirm": True, "reason": "the user agreed"},
    }
    [asked] = agent.asked
    assert isinstance(asked, types.ElicitRequestFormParams)
    assert asked.message == "Really close the account?"
    assert await audited(gateway, "elicitation_relayed")


async def test_policy_can_refuse_sampling_and_the_upstream_is_told(gateway: AskingGateway) -> None:
    agent = Agent()
    async with mcp_http_client(gateway.mcp_url, READER_KEY, mode="legacy", **agent.options()) as client:
        result = await client.call_tool("asking_summarize", {"text": "secret plans"})
        assert not result.is_error, result
        assert agent.asked == [], "the agent was never asked"
        refused = (result.structured_content or {}).get("refused", "")
        assert "policy does not let asking ask the agent for sampling" in refused
        # Elicitation is another action: the same principal may still be asked to confirm.
        confirmed = await client.call_tool("asking_confirm", {"action": "archive"})
        assert (confirmed.structured_content or {}).get("action") == "accept"
    assert await audited(gateway, "sampling_denied")


async def test_a_backend_that_is_not_allowed_to_ask_is_refused_by_the_gateway(gateway: AskingGateway) -> None:
    agent = Agent()
    async with mcp_http_client(gateway.mcp_url, WRITER_KEY, mode="legacy", **agent.options()) as client:
        result = await client.call_tool("shy_summarize", {"text": "anything"})
    assert agent.asked == []
    # The gateway did not even offer sampling to this upstream (allow_sampling is off).
    assert (result.structured_content or {}).get("refused") == "Sampling not supported"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_an_agent_that_cannot_be_asked_gets_an_answer_all_the_same(
    gateway: AskingGateway, mode: str
) -> None:
    """A client without the capability (legacy), or on 2026-07-28 (no server-to-client requests):
    the upstream is told no, and the call still answers."""
    agent = Agent()
    options = agent.options() if mode != "legacy" else {}
    async with mcp_http_client(gateway.mcp_url, WRITER_KEY, mode=mode, **options) as client:
        result = await client.call_tool("asking_summarize", {"text": "anything"})
    assert not result.is_error, result
    assert "cannot be asked for sampling" in (result.structured_content or {}).get("refused", "")
    assert agent.asked == []
