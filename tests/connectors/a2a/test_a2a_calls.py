"""A remote A2A agent as a tool: its card becomes one tool, a message is sent, an answer given at
once comes back as structured content, and a task that goes on is followed to its end — by its
event stream or by asking for it — with its status relayed as progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pasarela.connectors.base import Invocation
from tests.connectors.a2a.desk_agent import TOKEN, DeskAgent
from tests.connectors.a2a.helpers import ACCESS, NOWHERE, TOOL, ask, backend
from tests.helpers.gateway import READER_KEY, gateway_for

pytestmark = pytest.mark.anyio


async def test_the_card_becomes_one_tool_that_names_the_skills(tmp_path: Path, desk: DeskAgent) -> None:
    async with gateway_for(tmp_path, NOWHERE, backends=backend(desk), extra=ACCESS) as (client, runtime):
        listed = await client.get("/v1/tools", headers={"Authorization": f"Bearer {READER_KEY}"})
        tool = next(t for t in listed.json()["tools"] if t["name"] == TOOL)
        target = runtime.gateway.connectors["desk"].span_target(runtime.gateway.catalog.get(TOOL))  # type: ignore[attr-defined]
    # In a trace: the GenAI conventions' remote agent invocation, and nothing of the message.
    assert target.name == "invoke_agent Desk" and target.kind == "client"
    assert target.attributes == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "Desk",
        "server.address": "127.0.0.1",
    }
    assert tool["description"].startswith("The bank's back-office desk agent.")
    assert '- Echo: Repeats what it is told. For example: "echo hello"' in tool["description"]
    assert "- Reports: Prepares slow reports." in tool["description"]
    schema = tool["inputSchema"]
    assert schema["required"] == ["message"] and schema["additionalProperties"] is False
    assert schema["properties"]["message"]["maxLength"] == 20_000
    assert schema["properties"]["data"]["type"] == "object"
    assert tool["annotations"]["readOnlyHint"] is False


async def test_an_answer_given_at_once_is_structured_content(tmp_path: Path, desk: DeskAgent) -> None:
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(desk), extra=ACCESS) as (client, _):
        answered = await ask(
            client,
            {"message": "echo hello", "data": {"customer_id": "12345", "amount": 20000}},
            headers={"traceparent": trace},
        )
    assert answered.status_code == 200, answered.text
    result = answered.json()["result"]
    assert result["text"] == "echo: echo hello"
    assert result["data"] == [{"customer_id": "12345", "amount": 20000}]  # whole numbers stay whole
    assert result["artifacts"] == [] and result["task_id"] is None
    seen = desk.messages[-1]
    assert seen.text == "echo hello" and seen.data == [{"customer_id": "12345", "amount": 20000.0}]
    # The gateway's own credential, never the caller's key; the caller's trace context rides along.
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["traceparent"] == trace


async def test_a_long_task_is_followed_by_its_stream_with_progress(tmp_path: Path, desk: DeskAgent) -> None:
    async with gateway_for(tmp_path, NOWHERE, backends=backend(desk), extra=ACCESS) as (_, runtime):
        connector = runtime.gateway.connectors["desk"]
        reported: list[tuple[float | None, str | None]] = []

        async def progress(fraction: float | None, message: str | None) -> None:
            reported.append((fraction, message))

        answer = await connector.invoke(
            runtime.gateway.catalog.get(TOOL), {"message": "slow 3"}, Invocation(progress=progress)
        )
    assert [message for _, message in reported] == [
        "submitted",
        "step 1 of 3",
        "step 2 of 3",
        "step 3 of 3",
        "done",
    ]
    assert [fraction for fraction, _ in reported] == [None, None, None, None, 1.0]  # only the end is known
    assert desk.methods == ["SendStreamingMessage"]  # A2A 1.0: one streamed answer, nothing asked after
    result = answer.data
    assert result["text"] == "done" and result["task_id"]
    assert result["artifacts"] == [
        {"name": "report", "text": "the report", "data": [{"steps": 3, "total": 12.5}], "files": []}
    ]


async def test_without_a_stream_the_task_is_asked_for_until_it_ends(
    tmp_path: Path, polled_desk: DeskAgent
) -> None:
    extra = "    poll_interval: 20ms\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(polled_desk, extra), extra=ACCESS) as (
        client,
        runtime,
    ):
        connector = runtime.gateway.connectors["desk"]
        reported: list[str | None] = []

        async def progress(fraction: float | None, message: str | None) -> None:
            reported.append(message)

        answer = await connector.invoke(
            runtime.gateway.catalog.get(TOOL), {"message": "slow 4"}, Invocation(progress=progress)
        )
        assert answer.data["artifacts"][0]["data"] == [{"steps": 4, "total": 12.5}]
        assert answer.data["text"] == "done"
        # Polling sees what the task says when asked: some of the steps, in order, then the end.
        steps = ["submitted", "step 1 of 4", "step 2 of 4", "step 3 of 4", "step 4 of 4", "done"]
        assert reported[0] == "submitted" and reported[-1] == "done"
        assert [steps.index(m) for m in reported if m is not None] == sorted(
            steps.index(m) for m in reported if m is not None
        )
        assert polled_desk.methods[0] == "SendMessage" and set(polled_desk.methods[1:]) == {"GetTask"}
        # And through the REST door, an answer at once still comes back at once.
        echoed = await ask(client, {"message": "echo polled"})
        assert echoed.json()["result"]["text"] == "echo: echo polled"


async def test_a_tool_declared_async_runs_as_a_job_with_the_tasks_progress(
    tmp_path: Path, desk: DeskAgent
) -> None:
    extra = ACCESS + "tools:\n  ask_desk: {execution: async, job: {timeout: 30s}}\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(desk), extra=extra) as (client, _):
        started = await ask(client, {"message": "slow 2"})
        assert started.status_code == 202, started.text
        job = started.json()["job"]["id"]
        headers = {"Authorization": f"Bearer {READER_KEY}"}
        done = await client.get(f"/v1/jobs/{job}/result", params={"wait": "20s"}, headers=headers)
        assert done.status_code == 200, done.text
        assert done.json()["result"]["artifacts"][0]["data"] == [{"steps": 2, "total": 12.5}]
        view = (await client.get(f"/v1/jobs/{job}", headers=headers)).json()["job"]
    assert view["status"] == "completed"
    assert view["progress"]["message"] == "done"  # the task's last status, relayed by the connector


@pytest.mark.parametrize("streaming", [True, False], ids=["message-stream", "tasks-get"])
async def test_an_a2a_0_3_agent_is_spoken_to_in_its_own_version(
    tmp_path: Path, desk: DeskAgent, streaming: bool
) -> None:
    """A card written for A2A 0.3 (`url`, `protocolVersion`, `security`): the same tool, and the
    messages go as `message/send` (or `message/stream`) and `tasks/get`."""
    card = {
        "name": "Desk",
        "description": "The bank's back-office desk agent.",
        "url": desk.url + "/",
        "protocolVersion": "0.3.0",
        "version": "1.0.0",
        "capabilities": {"streaming": streaming},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "echo", "name": "Echo", "description": "Repeats what it is told.", "tags": []}],
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "security": [{"bearer": []}],
    }
    (tmp_path / "desk-card.json").write_text(json.dumps(card))
    extra = "    poll_interval: 20ms\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend("desk-card.json", extra), extra=ACCESS) as (
        client,
        _,
    ):
        echoed = await ask(client, {"message": "echo old"})
        slow = await ask(client, {"message": "slow 2"})
        listed = await client.get("/v1/tools", headers={"Authorization": f"Bearer {READER_KEY}"})
    schema = next(t for t in listed.json()["tools"] if t["name"] == TOOL)["inputSchema"]
    assert set(schema["properties"]) == {"message"}  # text only, as the card says
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["result"]["text"] == "echo: echo old"
    assert slow.status_code == 200, slow.text
    assert slow.json()["result"]["artifacts"][0]["data"] == [{"steps": 2, "total": 12.5}]
    assert desk.methods[0] == ("message/stream" if streaming else "message/send")
    assert ("tasks/get" in desk.methods) is not streaming
