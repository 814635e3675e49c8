"""What goes wrong at an agent becomes a problem document: a task that fails, is rejected, or stops
to ask for input or authorization; the gateway's own credential refused; an agent that is down or
too slow (its task then canceled at the agent); and the breaker counts only what says the agent
is unwell."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from pasarela.assembly import Runtime
from pasarela.connectors.base import Invocation
from pasarela.errors import UpstreamError
from pasarela.resilience.stage import counts_against_backend
from tests.connectors.a2a.desk_agent import TOKEN, DeskAgent
from tests.connectors.a2a.helpers import ACCESS, NOWHERE, TOOL, ask, backend
from tests.helpers.gateway import gateway_for

pytestmark = pytest.mark.anyio


@pytest.fixture
async def desk_gateway(tmp_path: Path, desk: DeskAgent) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    extra = ACCESS + f"tools:\n  {TOOL}: {{timeout: 500ms}}\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(desk), extra=extra) as pair:
        yield pair


async def problem_of(runtime: Runtime, message: str) -> UpstreamError:
    connector = runtime.gateway.connectors["desk"]
    with pytest.raises(UpstreamError) as caught:
        await connector.invoke(runtime.gateway.catalog.get(TOOL), {"message": message}, Invocation(timeout=2))
    return caught.value


async def test_a_failed_task_names_the_agents_reason_with_secrets_masked(
    desk_gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = desk_gateway
    answered = await ask(client, {"message": "fail"})
    assert answered.status_code == 502, answered.text
    problem = answered.json()
    assert problem["code"] == "upstream_error" and problem["a2a_state"] == "failed"
    assert problem["a2a_task_id"]
    assert "the ledger is closed" in problem["detail"] and TOKEN not in answered.text
    assert counts_against_backend(await problem_of(runtime, "fail"))


async def test_input_required_is_an_error_naming_the_question_and_the_task_is_canceled(
    desk_gateway: tuple[httpx.AsyncClient, Runtime], desk: DeskAgent
) -> None:
    client, runtime = desk_gateway
    answered = await ask(client, {"message": "ask"})
    assert answered.status_code == 502, answered.text
    problem = answered.json()
    assert problem["a2a_state"] == "input-required"
    assert problem["agent_message"] == "Which customer do you mean?"
    assert (
        "needs more input" in problem["detail"] and "everything it needs in one message" in problem["detail"]
    )
    assert desk.canceled == [problem["a2a_task_id"]]  # no conversation is left open at the agent
    # The caller asked wrongly, the agent is fine: the breaker does not count it.
    assert not counts_against_backend(await problem_of(runtime, "ask"))


@pytest.mark.parametrize(
    ("message", "state", "words", "counts"),
    [
        ("authorize", "auth-required", "asks for an authorization the gateway cannot give", False),
        ("reject", "rejected", "rejected ask_desk: I do not do transfers.", False),
    ],
)
async def test_auth_required_and_rejected(
    desk_gateway: tuple[httpx.AsyncClient, Runtime], message: str, state: str, words: str, counts: bool
) -> None:
    client, runtime = desk_gateway
    answered = await ask(client, {"message": message})
    assert answered.status_code == 502, answered.text
    assert answered.json()["a2a_state"] == state and words in answered.json()["detail"]
    assert counts_against_backend(await problem_of(runtime, message)) is counts


async def test_an_executor_that_raises_is_an_agent_failure(
    desk_gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = desk_gateway
    answered = await ask(client, {"message": "crash"})
    assert answered.status_code == 502, answered.text
    assert answered.json()["a2a_error"] == "InternalError"
    assert counts_against_backend(await problem_of(runtime, "crash"))


async def test_a_task_that_outlives_the_timeout_is_a_504_and_is_canceled_at_the_agent(
    desk_gateway: tuple[httpx.AsyncClient, Runtime], desk: DeskAgent
) -> None:
    client, _ = desk_gateway
    answered = await ask(client, {"message": "forever"})
    assert answered.status_code == 504, answered.text
    problem = answered.json()
    assert problem["code"] == "upstream_timeout" and "within 0.5s" in problem["detail"]
    assert desk.canceled == [problem["a2a_task_id"]]


async def test_the_agent_refusing_the_gateways_credential_is_not_the_callers_problem(
    tmp_path: Path, desk: DeskAgent
) -> None:
    # The card's security scheme is answered (a bearer token), but the agent does not take this one.
    async with gateway_for(
        tmp_path, NOWHERE, backends=backend(desk, token="not-the-token"), extra=ACCESS
    ) as (client, runtime):
        answered = await ask(client, {"message": "echo hi"})
        assert answered.status_code == 502, answered.text
        problem = answered.json()
        assert problem["upstream_status"] == 401
        assert "did not accept the gateway's own credential (backends.desk.auth" in problem["detail"]
        assert not counts_against_backend(await problem_of(runtime, "echo again"))
    assert desk.messages == []


async def test_an_agent_that_went_away_is_a_503(tmp_path: Path) -> None:
    with DeskAgent() as desk:
        async with gateway_for(tmp_path, NOWHERE, backends=backend(desk), extra=ACCESS) as (client, _):
            assert (await ask(client, {"message": "echo up"})).status_code == 200
            desk.__exit__(None, None, None)
            answered = await ask(client, {"message": "echo down"})
    assert answered.status_code == 503, answered.text
    assert answered.json()["code"] == "upstream_unavailable"


async def test_the_calls_own_headers_never_replace_the_gateways_credential(
    desk_gateway: tuple[httpx.AsyncClient, Runtime], desk: DeskAgent
) -> None:
    _, runtime = desk_gateway
    headers = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "Authorization": "evil",
    }
    connector = runtime.gateway.connectors["desk"]
    await connector.invoke(
        runtime.gateway.catalog.get(TOOL), {"message": "echo"}, Invocation(headers=headers)
    )
    assert desk.messages[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert desk.messages[-1].headers["traceparent"] == headers["traceparent"]
