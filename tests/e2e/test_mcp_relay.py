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
from mcp.shared.exceptions import MCPError

from tests.helpers.asking_gateway import AskingGateway, asking_gateway
from tests.helpers.gateway import READER_KEY, WRITER_KEY
from tests.helpers.mcp_clients import mcp_http_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

# The tool names of the same upstream, spoken to in each era (tests/helpers/asking_gateway.py).
ERAS = {"upstream-2025": "asking_", "upstream-2026": "modern_"}
# The agent's client in each era: 2026-07-28 gets the upstream's requests as InputRequiredResult.
AGENTS = {"agent-2025": "legacy", "agent-2026": "2026-07-28"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AskingGateway]:
    with asking_gateway(tmp_path_factory.mktemp("mcp-relay")) as running:
        yield running


class Agent:
    """An agent's MCP client that answers sampling and elicitation, and remembers being asked."""

    def __init__(self) -> None:
        self.asked: list[Any] = []
        self.progressed: list[str | None] = []

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

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progressed.append(message)

    def options(self) -> dict[str, Any]:
        return {"sampling_callback": self.sample, "elicitation_callback": self.elicit}


async def audited(
    gateway: AskingGateway, outcome: str, parent_id: str = "%"
) -> list[tuple[str, str | None, str | None]]:
    """The audit records with `outcome` (under `parent_id`), once the writer has flushed them."""
    with anyio.fail_after(10):
        while not (found := [r for r in gateway.audit(parent_id) if r[0] == outcome]):  # noqa: ASYNC110 - another process
            await anyio.sleep(0.05)
    return found


@pytest.mark.parametrize("agent_era", AGENTS)
@pytest.mark.parametrize("era", ERAS)
async def test_sampling_reaches_the_agents_client_and_its_answer_the_upstream(
    gateway: AskingGateway, era: str, agent_era: str
) -> None:
    agent = Agent()
    async with mcp_http_client(
        gateway.mcp_url, WRITER_KEY, mode=AGENTS[agent_era], **agent.options()
    ) as client:
        result = await client.call_tool(
            f"{ERAS[era]}summarize", {"text": "the quarterly report"}, progress_callback=agent.progress
        )
    assert not result.is_error, result
    assert result.structured_content == {"summary": "A short summary.", "model": "agent-llm"}
    [asked] = agent.asked
    assert isinstance(asked, types.CreateMessageRequestParams)
    assert asked.max_tokens == 64
    assert asked.include_context is None, "the gateway's session is not the upstream's to read"
    # Reported after the agent answered: on 2026-07-28, on the request that carried the answer.
    assert agent.progressed == ["summarised"]
    assert asked.messages[0].content == types.TextContent(type="text", text="Summarise: the quarterly report")
    # Recorded under the call it was asked during, as the upstream's doing.
    call_id = (result.meta or {})["pasarela"]["request_id"]
    assert ("sampling_relayed", "upstream", call_id) in await audited(gateway, "sampling_relayed", call_id)


@pytest.mark.parametrize("agent_era", AGENTS)
@pytest.mark.parametrize("era", ERAS)
async def test_elicitation_reaches_the_agents_user(gateway: AskingGateway, era: str, agent_era: str) -> None:
    agent = Agent()
    async with mcp_http_client(
        gateway.mcp_url, WRITER_KEY, mode=AGENTS[agent_era], **agent.options()
    ) as client:
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


@pytest.mark.parametrize("mode", AGENTS.values())
async def test_an_agent_that_cannot_be_asked_gets_an_answer_all_the_same(
    gateway: AskingGateway, mode: str
) -> None:
    """A client that did not declare the capability: the upstream is told no, and the call
    still answers."""
    async with mcp_http_client(gateway.mcp_url, WRITER_KEY, mode=mode) as client:
        result = await client.call_tool("asking_summarize", {"text": "anything"})
    assert not result.is_error, result
    assert "cannot be asked for sampling" in (result.structured_content or {}).get("refused", "")


async def test_a_held_call_answers_only_its_own_principal_with_its_own_state(gateway: AskingGateway) -> None:
    """2026-07-28, driven by hand: the `requestState` is a capability of the principal that
    started the call, for that tool; anything else is refused, and the call still completes."""
    agent = Agent()
    async with (
        mcp_http_client(gateway.mcp_url, WRITER_KEY, mode="2026-07-28", **agent.options()) as writer,
        mcp_http_client(gateway.mcp_url, READER_KEY, mode="2026-07-28", **agent.options()) as reader,
    ):
        first = await writer.session.call_tool(
            "asking_confirm", {"action": "wire funds"}, allow_input_required=True
        )
        assert isinstance(first, types.InputRequiredResult), first
        [(key, request)] = (first.input_requests or {}).items()
        assert isinstance(request, types.ElicitRequest)
        assert request.params.message == "Really wire funds?"
        state = first.request_state
        assert state
        answer = types.ElicitResult(action="decline")
        for client, tool, token in [
            (reader, "asking_confirm", state),  # another principal
            (writer, "asking_summarize", state),  # another tool
            (writer, "asking_confirm", state + "x"),  # a forged token
        ]:
            with pytest.raises(MCPError) as refused:
                await client.session.call_tool(
                    tool,
                    {"action": "wire funds", "text": "x"},
                    input_responses={key: answer},
                    request_state=token,
                    allow_input_required=True,
                )
            assert refused.value.error.code == types.INVALID_PARAMS
            assert "requestState names no call waiting for input" in refused.value.error.message
        done = await writer.session.call_tool(
            "asking_confirm",
            {"action": "wire funds"},
            input_responses={key: answer},
            request_state=state,
            allow_input_required=True,
        )
    assert isinstance(done, types.CallToolResult) and not done.is_error, done
    assert done.structured_content == {"action": "decline", "content": None}
