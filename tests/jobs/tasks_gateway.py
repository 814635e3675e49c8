"""A running `pasarela serve` whose tools run as jobs, for the MCP tasks tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.gateway import ENV, write_config
from tests.helpers.processes import served
from tests.helpers.servers import free_port

BACKENDS = "  jobs:\n    python: tests.jobs.job_tools\n  progress:\n    python: tests.jobs.progress_tools\n"
EXTRA = """state: sqlite:///{state}
audit: {{enabled: false}}
tools:
  slow_report: {{execution: async, job: {{timeout: 20s}}}}
  refuse: {{execution: async}}
  apply_once: {{execution: optional}}
  greet: {{execution: sync}}
jobs: {{workers: 2, lease: 2s, poll_interval: 50ms}}
access:
  reader: [slow_report, refuse, apply_once, greet, count_up]
  writer: ["*"]
"""


@contextmanager
def tasks_gateway(directory: Path) -> Iterator[str]:
    """The base URL of a gateway serving the job tools (reader owns jobs; writer may call every
    tool but read no one else's jobs)."""
    port = free_port()
    extra = EXTRA.format(state=directory / "state.db")
    config = write_config(directory, "http://127.0.0.1:9", port=port, backends=BACKENDS, extra=extra)
    with served(config, port, ENV) as handle:
        yield handle.url
