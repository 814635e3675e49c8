"""A real `pasarela serve` process over a recording upstream, for tests of the doors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.gateway import ENV, write_config
from tests.helpers.processes import Served, served
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream


@contextmanager
def running_gateway(directory: Path, *, server: str = "") -> Iterator[Served]:
    """`server` is added to the `server:` mapping (e.g. `max_request_bytes: 4096`).

    The process's output (its log) is kept in `directory/serve.log` for the test to read."""
    with ThreadedServer(RecordingUpstream()) as upstream:
        port = free_port()
        head = f"state: sqlite:///{directory / 'state.db'}\naudit: {{enabled: false}}\n"
        config = write_config(directory, upstream.url, port=port, extra=head)
        more = f", {server}" if server else ""
        text = config.read_text().replace(f"port: {port}}}", f"port: {port}{more}}}", 1)
        config.write_text(text)
        with served(config, port, ENV, log=directory / "serve.log") as handle:
            yield handle
