"""What an official MCP client shows its user when the gateway refuses the credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp.shared.exceptions import MCPError

from tests.helpers.gateway import READER_KEY
from tests.helpers.mcp_clients import mcp_http_client
from tests.helpers.processes import Served
from tests.helpers.running import running_gateway

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with running_gateway(tmp_path_factory.mktemp("mcp-auth")) as served:
        yield served


def mcp_error_in(error: BaseException) -> MCPError:
    """The MCPError the client raised (its task groups wrap it in exception groups)."""
    if isinstance(error, MCPError):
        return error
    if isinstance(error, BaseExceptionGroup):
        [found] = [mcp_error_in(inner) for inner in error.exceptions]
        return found
    raise AssertionError(f"not an MCPError: {error!r}")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(
    ("key", "reason"),
    [("wrong-key", "the API key is not valid"), (None, "missing credentials")],
    ids=["wrong-key", "no-key"],
)
async def test_the_client_error_says_why(gateway: Served, mode: str, key: str | None, reason: str) -> None:
    statuses: list[int] = []
    with pytest.raises(BaseException) as raised:  # noqa: PT011 - the SDK wraps it in groups; unwrapped below
        async with mcp_http_client(f"{gateway.url}/mcp", key, mode=mode, statuses=statuses) as client:
            await client.list_tools()
    assert statuses and set(statuses) == {401}
    error = mcp_error_in(raised.value)
    assert reason in str(error), repr(error)
    assert error.error.code == -32001
    assert "Server returned an error response" not in str(error)


async def test_the_right_key_still_works(gateway: Served) -> None:
    async with mcp_http_client(f"{gateway.url}/mcp", READER_KEY) as client:
        assert "greet" in [t.name for t in (await client.list_tools()).tools]
