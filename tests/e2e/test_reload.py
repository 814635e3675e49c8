"""SIGHUP reloads a running gateway: rotated secrets, approved tools, and bad configs kept out."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.helpers.gateway import sha
from tests.helpers.processes import Served, run_pasarela, served
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream

pytestmark = pytest.mark.e2e

READER_KEY = "reader-key-0000001"


@pytest.fixture
def upstream() -> Iterator[tuple[RecordingUpstream, str]]:
    recorder = RecordingUpstream()
    with ThreadedServer(recorder) as server:
        yield recorder, server.url


def write(
    directory: Path,
    upstream_url: str,
    *,
    backend_token: str = "token-0000000001",  # noqa: S107 - a test value
    writer_key: str = "writer-key-0000000001",
) -> Path:
    secrets = directory / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "ITEMS_TOKEN").write_text(backend_token)
    (secrets / "WRITER_KEY").write_text(writer_key)
    spec = directory / "items.yaml"
    if not spec.exists():
        shutil.copy(FIXTURES / "openapi" / "items.yaml", spec)
    config = directory / "pasarela.yaml"
    config.write_text(
        f"""\
version: 1
state: sqlite:///{directory / "state.db"}
secrets: [{{file: {{dir: {secrets}}}}}]
identity:
  api_keys:
    - {{principal: reader, key_sha256: "{sha(READER_KEY)}", roles: [reader]}}
    - {{principal: writer, key: "${{secret:WRITER_KEY}}", roles: [writer]}}
backends:
  items:
    openapi: {spec}
    base_url: {upstream_url}
    auth: {{bearer: "${{secret:ITEMS_TOKEN}}"}}
access:
  reader: [getItem]
  writer: ["*"]
"""
    )
    return config


def get_item(url: str, key: str = READER_KEY) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/tools/getItem:call",
        json={"arguments": {"item_id": "1"}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def eventually(check: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def reload(server: Served, marker: str) -> None:
    """SIGHUP, then wait until the log shows the outcome (`reloaded` or `reload_failed`)."""
    seen = server.output().count(marker)
    server.process.send_signal(signal.SIGHUP)
    eventually(lambda: server.output().count(marker) > seen, f"{marker!r} in the log")


def test_rotated_secrets_take_effect_without_a_restart(
    tmp_path: Path, upstream: tuple[RecordingUpstream, str]
) -> None:
    recorder, upstream_url = upstream
    config = write(
        tmp_path, upstream_url, backend_token="token-before-rotation", writer_key="writer-key-before-0001"
    )
    with served(config, free_port(), {}) as server:
        assert get_item(server.url).status_code == 200
        assert recorder.seen[-1].headers["authorization"] == "Bearer token-before-rotation"
        assert get_item(server.url, "writer-key-before-0001").status_code == 200

        write(
            tmp_path, upstream_url, backend_token="token-after-rotation", writer_key="writer-key-after-00002"
        )
        reload(server, '"event":"reloaded"')

        assert get_item(server.url).status_code == 200
        assert recorder.seen[-1].headers["authorization"] == "Bearer token-after-rotation"
        assert get_item(server.url, "writer-key-before-0001").status_code == 401
        assert get_item(server.url, "writer-key-after-00002").status_code == 200
        # Neither the old nor the new values ever reach the logs.
        for value in ("token-before-rotation", "token-after-rotation", "writer-key-after-00002"):
            assert value not in server.output()


def test_an_approved_tool_is_served_again_after_a_reload(
    tmp_path: Path, upstream: tuple[RecordingUpstream, str]
) -> None:
    _, upstream_url = upstream
    config = write(tmp_path, upstream_url)
    with served(config, free_port(), {}) as server:
        assert get_item(server.url).status_code == 200
        # The backend changes the tool: on the next load it is quarantined.
        spec = tmp_path / "items.yaml"
        spec.write_text(
            spec.read_text().replace("summary: Get one item", "summary: Get one item, and forward it")
        )
        reload(server, '"event":"reloaded"')
        quarantined = get_item(server.url)
        assert quarantined.status_code == 409
        assert quarantined.json()["type"] == "urn:pasarela:problem:quarantined"

        approved = run_pasarela("tools", "approve", "getItem", "-c", str(config))
        assert approved.returncode == 0, approved.stderr
        reload(server, '"event":"reloaded"')
        assert get_item(server.url).status_code == 200


def test_a_broken_config_is_refused_and_the_running_one_kept(
    tmp_path: Path, upstream: tuple[RecordingUpstream, str]
) -> None:
    _, upstream_url = upstream
    config = write(tmp_path, upstream_url)
    with served(config, free_port(), {}) as server:
        config.write_text(config.read_text().replace("reader: [getItem]", "reader: [getItem, no_such_tool]"))
        reload(server, '"event":"reload_failed"')
        assert "access.reader[1]" in server.output()
        assert get_item(server.url).status_code == 200
        assert server.process.poll() is None
