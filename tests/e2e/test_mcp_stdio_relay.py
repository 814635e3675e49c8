"""Stdio on both sides: `pasarela stdio` in front of an upstream MCP server it runs as a
subprocess. Its log messages and its sampling requests still reach the agent (attributed to
the one call in flight, since a pipe links no message to its request)."""

from __future__ import annotations

import sys
from pathlib import Path

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext

from tests.conftest import REPO
from tests.helpers.gateway import ENV, write_config
from tests.helpers.processes import child_env

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def config(directory: Path, protocol: str) -> Path:
    backends = f"""\
  asking:
    mcp: {{command: {sys.executable}, args: [-m, tests.helpers.asking_upstream], cwd: {REPO}}}
    protocol: "{protocol}"
    allow_sampling: true
    timeout: 30s
"""
    extra = f"state: sqlite:///{directory / 'state.db'}\naudit: {{enabled: false}}\n"
    return write_config(directory, "http://127.0.0.1:9", backends=backends, extra=extra)


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28"])
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_an_upstream_over_stdio_talks_back_through_pasarela_stdio(
    tmp_path: Path, protocol: str, mode: str
) -> None:
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pasarela", "stdio", "-c", str(config(tmp_path, protocol)), "--as", "writer"],
        env=child_env(ENV),
        cwd=REPO,
    )
    heard: list[tuple[str, str | None]] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        heard.append((params.level, params.logger))

    async def sample(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="Brief."), model="stdio-llm"
        )

    async with Client(
        server, mode=mode, logging_callback=on_log, sampling_callback=sample, log_level="info"
    ) as client:
        chatty = await client.call_tool("asking_chatty", {"steps": 1})
        summary = await client.call_tool("asking_summarize", {"text": "a long story"})
    assert not chatty.is_error, chatty
    assert ("info", "asking") in heard and ("warning", "asking") in heard
    assert summary.structured_content == {"summary": "Brief.", "model": "stdio-llm"}
