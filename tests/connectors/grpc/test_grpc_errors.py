"""gRPC status codes as problem documents, deadlines from the tool's timeout, the gateway's own
metadata credential, and the breaker counting only what says the server is unwell."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from pasarela.assembly import Runtime
from pasarela.connectors.base import Invocation
from pasarela.errors import ConfigError, UpstreamError
from pasarela.resilience.stage import counts_against_backend
from tests.connectors.grpc.helpers import ACCESS, NOWHERE, backend, call
from tests.connectors.grpc.lab_server import TOKEN, LabServer
from tests.helpers.gateway import READER_KEY, gateway_for
from tests.helpers.servers import free_port

pytestmark = pytest.mark.anyio

NO_RETRY = "    retry: {attempts: 1}\n"


@pytest.fixture
async def lab_gateway(tmp_path: Path, lab: LabServer) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    extra = ACCESS + "tools:\n  Slow: {timeout: 300ms}\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, NO_RETRY), extra=extra) as pair:
        yield pair


STATUSES = [
    # code, HTTP status, problem code, the message reaches the agent, counts against the backend
    ("INVALID_ARGUMENT", 502, "upstream_error", True, False),
    ("FAILED_PRECONDITION", 502, "upstream_error", True, False),
    ("OUT_OF_RANGE", 502, "upstream_error", True, False),
    ("NOT_FOUND", 502, "upstream_error", True, False),
    ("ALREADY_EXISTS", 502, "upstream_error", True, False),
    ("ABORTED", 502, "upstream_error", True, False),
    ("UNIMPLEMENTED", 502, "upstream_error", True, False),
    ("UNAVAILABLE", 503, "upstream_unavailable", True, True),
    ("DEADLINE_EXCEEDED", 504, "upstream_timeout", True, True),
    ("RESOURCE_EXHAUSTED", 502, "upstream_error", True, True),
    ("INTERNAL", 502, "upstream_error", True, True),
    ("UNKNOWN", 502, "upstream_error", True, True),
    ("DATA_LOSS", 502, "upstream_error", True, True),
]


@pytest.mark.parametrize(("code", "status", "problem_code", "says", "counts"), STATUSES)
async def test_status_codes_become_problem_documents(
    lab_gateway: tuple[httpx.AsyncClient, Runtime],
    code: str,
    status: int,
    problem_code: str,
    says: bool,
    counts: bool,
) -> None:
    client, runtime = lab_gateway
    message = f"the lab says {code.lower()}"
    answer = await call(client, "Fail", {"code": code, "message": message})
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert problem["code"] == problem_code
    assert problem["grpc_status"] == code
    assert problem["backend"] == "lab"
    assert (message in problem["detail"]) == says or problem["grpc_message"] == message
    assert problem["grpc_message"] == message
    assert "upstream_status" not in problem  # no HTTP status the server never sent
    # The same error as the resilience stage sees it: does it say the server is unwell?
    connector = runtime.gateway.connectors["lab"]
    with pytest.raises(UpstreamError) as caught:
        await connector.invoke(runtime.gateway.catalog.get("Fail"), {"code": code, "message": message})
    assert counts_against_backend(caught.value) == counts


async def test_invalid_argument_names_the_servers_message_and_masks_secrets(
    lab_gateway: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = lab_gateway
    answer = await call(
        client, "Fail", {"code": "INVALID_ARGUMENT", "message": f"product P-1 unknown; token {TOKEN}"}
    )
    problem = answer.json()
    assert problem["detail"].startswith("lab refused Fail (INVALID_ARGUMENT): product P-1 unknown")
    assert TOKEN not in answer.text  # the gateway's own credential, echoed by the server, is masked


@pytest.mark.parametrize("code", ["UNAUTHENTICATED", "PERMISSION_DENIED"])
async def test_credential_refusals_are_502s_that_do_not_blame_the_agent(
    lab_gateway: tuple[httpx.AsyncClient, Runtime], code: str
) -> None:
    client, _ = lab_gateway
    answer = await call(client, "Fail", {"code": code, "message": "who are you"})
    assert answer.status_code == 502, answer.text
    assert "WWW-Authenticate" not in answer.headers
    problem = answer.json()
    assert problem["code"] == "upstream_error" and problem["grpc_status"] == code
    assert "gateway's own" in problem["detail"]
    assert "not about the caller's credentials" in problem["detail"]


async def test_a_wrong_gateway_credential_is_a_502_not_a_401(tmp_path: Path, lab: LabServer) -> None:
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, token="wrong-token"), extra=ACCESS) as (
        client,
        _,
    ):
        answer = await call(client, "Lab_Echo", {"text": "hi"})
        assert answer.status_code == 502, answer.text
        assert answer.json()["grpc_status"] == "UNAUTHENTICATED"
        assert "backends.lab.auth" in answer.json()["detail"]
        assert lab.seen[-1]["authorization"] == "Bearer wrong-token"


async def test_the_gateway_credential_and_fixed_metadata_go_along_but_never_the_agents(
    tmp_path: Path, lab: LabServer
) -> None:
    extra = "    metadata: {x-tenant: bank-1}\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, extra), extra=ACCESS) as (client, _):
        answer = await call(client, "WhoAmI", {})
        assert answer.status_code == 200, answer.text
        metadata = answer.json()["result"]["metadata"]
        assert metadata["authorization"] == "Bearer ***"  # the server echoed it: masked in the result
        assert metadata["x-tenant"] == "bank-1"
        assert lab.seen[-1]["authorization"] == f"Bearer {TOKEN}"
        assert READER_KEY not in str(metadata) and READER_KEY not in str(lab.seen)


async def test_a_slow_method_is_cut_by_the_tools_timeout(
    lab_gateway: tuple[httpx.AsyncClient, Runtime], lab: LabServer
) -> None:
    client, _ = lab_gateway
    answer = await call(client, "Slow", {"seconds": 5})
    assert answer.status_code == 504, answer.text
    problem = answer.json()
    assert problem["code"] == "upstream_timeout"
    assert problem["detail"] == "lab did not answer Slow within 0.3s"
    fast = await call(client, "Slow", {"seconds": 0.01})
    assert fast.status_code == 200 and fast.json()["result"]["slept"] >= 0.01


async def test_a_server_that_is_gone_is_a_503(tmp_path: Path, lab: LabServer) -> None:
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, NO_RETRY), extra=ACCESS) as (client, _):
        lab.__exit__(None, None, None)  # the server stops; the channel stays
        answer = await call(client, "Lab_Echo", {"text": "anyone?"})
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "upstream_unavailable"
        assert answer.json()["grpc_status"] == "UNAVAILABLE"


async def test_unavailable_opens_the_breaker_and_refusals_do_not(tmp_path: Path, lab: LabServer) -> None:
    breaker = "    circuit_breaker: {min_calls: 3, failure_ratio: 0.5, window: 30s, open_for: 30s, min_principals: 1}\n"
    async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, NO_RETRY + breaker), extra=ACCESS) as (
        client,
        _,
    ):
        for _ in range(3):  # refused requests: nothing wrong with the server
            answer = await call(client, "Fail", {"code": "INVALID_ARGUMENT", "message": "no"})
            assert answer.status_code == 502
        answer = await call(client, "Lab_Echo", {})
        assert answer.status_code == 200, answer.text
        for _ in range(5):
            answer = await call(client, "Fail", {"code": "UNAVAILABLE", "message": "down"})
        answer = await call(client, "Lab_Echo", {})
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] in ("circuit_open", "caller_circuit_open")


async def test_an_unreachable_port_fails_at_load_naming_the_backend(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        async with gateway_for(tmp_path, NOWHERE, backends=backend(f"127.0.0.1:{free_port()}"), extra=ACCESS):
            pass
    assert "backends.lab.grpc: server reflection at 127.0.0.1:" in str(caught.value)
    assert "UNAVAILABLE" in str(caught.value)


async def test_the_calls_own_headers_ride_as_metadata_but_never_replace_the_credential(
    lab_gateway: tuple[httpx.AsyncClient, Runtime], lab: LabServer
) -> None:
    _, runtime = lab_gateway
    headers = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "Authorization": "evil",
    }
    connector = runtime.gateway.connectors["lab"]
    await connector.invoke(runtime.gateway.catalog.get("WhoAmI"), {}, Invocation(headers=headers))
    assert lab.seen[-1]["traceparent"] == headers["traceparent"]
    assert lab.seen[-1]["authorization"] == f"Bearer {TOKEN}"
