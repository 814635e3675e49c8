"""The official MCP client against `pasarela stdio` as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import REPO
from tests.helpers.gateway import ENV, READER_KEY, write_config
from tests.helpers.processes import child_env
from tests.helpers.servers import ThreadedServer
from tests.helpers.upstream import RecordingUpstream, Reply, Seen, echo

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    def behaviour(seen: Seen) -> Reply:
        return Reply(500, {"error": "boom"}) if seen.raw_path == "/items/broken" else echo(seen)

    with ThreadedServer(RecordingUpstream(behaviour)) as server:
        yield write_config(tmp_path, server.url)


def params(config: Path, *extra: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "pasarela", "stdio", "-c", str(config), *extra],
        env=child_env({**ENV, **(env or {})}),
        cwd=REPO,
    )


@pytest.mark.parametrize(
    ("extra", "env"),
    [(("--as", "reader"), {}), ((), {"PASARELA_API_KEY": READER_KEY})],
    ids=["as", "api-key"],
)
async def test_list_and_call_over_stdio(config: Path, extra: tuple[str, ...], env: dict[str, str]) -> None:
    async with Client(params(config, *extra, env=env)) as client:
        tools = await client.list_tools()
        assert [t.name for t in tools.tools] == ["getItem", "searchItems", "greet", "explode"]
        greeting = await client.call_tool("greet", {"name": "stdio"})
        assert greeting.structured_content == {"text": "Hello, stdio!", "shout": False}
        failing = await client.call_tool("getItem", {"item_id": "broken"})
        assert failing.is_error
        assert json.loads(failing.content[0].text)["upstream_status"] == 500  # type: ignore[union-attr]
        denied = await client.call_tool("createItem", {"name": "x"})
        assert denied.is_error


def test_stdio_refuses_to_start_without_a_principal(config: Path) -> None:
    for extra, env in (((), {}), (("--as", "ghost"), {}), ((), {"PASARELA_API_KEY": "wrong"})):
        done = subprocess.run(
            [sys.executable, "-m", "pasarela", "stdio", "-c", str(config), *extra],
            env=child_env({**ENV, **env}),
            cwd=REPO,
            input=b"",
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        assert done.stdout == b"", "nothing but MCP may ever appear on stdout"
