"""A running gateway in front of the asking upstream (tests/helpers/asking_upstream.py), spoken
to in both protocol eras, for the tests of MCP session features."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import asking_upstream
from tests.helpers.gateway import ENV, write_config
from tests.helpers.processes import Served, served
from tests.helpers.servers import ThreadedServer, free_port

UPSTREAM_TOKEN = "asking-upstream-token-3141"
ENV_WITH_TOKEN = {**ENV, "TEST_SECRET_ASKING_TOKEN": UPSTREAM_TOKEN}
# The writer may call everything ("*"); the reader these, and a policy stops its sampling.
ACCESS = """access:
  reader: [asking_chatty, asking_summarize, asking_confirm, getItem]
  writer: ["*"]
policies: |
  forbid(principal == Agent::"reader", action == Action::"sample", resource);
"""


def backends(url: str) -> str:
    """The same upstream three times: spoken to in each era, and once with nothing allowed."""
    return f"""\
  asking:
    mcp: {url}
    protocol: "2025-11-25"
    auth: {{bearer: "${{secret:ASKING_TOKEN}}"}}
    allow_sampling: true
    allow_elicitation: true
    timeout: 30s
  asking_modern:
    mcp: {url}
    protocol: "2026-07-28"
    prefix: modern_
    allow_sampling: true
    allow_elicitation: true
    timeout: 30s
  shy:
    mcp: {url}
    protocol: "2025-11-25"
    relay_logs: false
    timeout: 30s
"""


@dataclass
class AskingGateway:
    served: Served
    state: Path

    @property
    def mcp_url(self) -> str:
        return f"{self.served.url}/mcp"

    def outcomes(self, tool: str) -> list[str]:
        """The outcome of each call of `tool` recorded so far, in order."""
        with sqlite3.connect(self.state) as db:
            rows = db.execute(
                "select outcome from pasarela_audit where tool = ? order by seq", (tool,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def audit(self, parent_id_like: str = "%") -> list[tuple[str, str | None, str | None]]:
        """(outcome, via, parent_id) of the audit records, in order."""
        with sqlite3.connect(self.state) as db:
            rows = db.execute(
                "select outcome, via, parent_id from pasarela_audit where coalesce(parent_id, '') like ? "
                "order by seq",
                (parent_id_like,),
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]


@contextmanager
def asking_gateway(
    directory: Path, items_url: str = "http://127.0.0.1:9", extra: str = ""
) -> Iterator[AskingGateway]:
    with ThreadedServer(asking_upstream.app(), lifespan=True) as upstream:
        port, state = free_port(), directory / "state.db"
        config = write_config(
            directory,
            items_url,
            port=port,
            items="    timeout: 60s\n",  # a call to it ends by cancellation, not by its timeout
            backends=backends(f"{upstream.url}/mcp"),
            extra=f"state: sqlite:///{state}\naudit: {{flush_interval: 50ms}}\n{ACCESS}{extra}",
        )
        with served(config, port, ENV_WITH_TOKEN, log=directory / "serve.log") as handle:
            yield AskingGateway(handle, state)
