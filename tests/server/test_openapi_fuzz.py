"""schemathesis fuzzes a real `pasarela serve` from its own `/v1/openapi.json`: no answer is a
server error, and every status and content type is one the description documents.

Bounded to run in about a minute: a few examples per operation, no shrinking. The event stream
is left out (an open-ended SSE answer cannot be fuzzed request by request)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance
from schemathesis.core.result import Ok

from tests.helpers.gateway import ENV, READER_KEY, WRITER_KEY, bearer, write_config
from tests.helpers.processes import Served, served
from tests.helpers.servers import ThreadedServer, free_port
from tests.helpers.upstream import RecordingUpstream

# Tools whose backend always answers (an echo server, Python functions): a 5xx from them would be
# the gateway's own fault. `explode` (raises) and `sleepy` (times out) answer 502/504 by design.
FUZZED = [
    "getItem",
    "searchItems",
    "createItem",
    "updateItem",
    "deleteItem",
    "submitForm",
    "postList",
    "greet",
    "add_numbers",
    "classify",
]
EXAMPLES = 30  # per operation and mode: ~18 operations, ~1000 requests, under a minute in CI
NOT_FUZZED = {"/v1/events/stream"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("fuzz")
    with ThreadedServer(RecordingUpstream()) as upstream:
        port = free_port()
        extra = (
            f"state: sqlite:///{directory / 'state.db'}\n"
            "audit: {enabled: false}\n"
            "events: {max_wait: 1s}\n"
            "jobs: {max_wait: 1s}\n"
            f"access:\n  reader: {FUZZED}\n  writer: {FUZZED}\n"
            "tool_search: {principals: [writer]}\n"
            "tools:\n  greet: {execution: optional}\n"
        )
        config = write_config(directory, upstream.url, port=port, extra=extra)
        with served(config, port, ENV, log=directory / "serve.log") as handle:
            yield handle


@pytest.mark.parametrize(
    ("key", "tools"),
    [(READER_KEY, FUZZED), (WRITER_KEY, ["search_tools", "call_tool"])],
    ids=["listing", "discovery"],
)
def test_no_fuzzed_request_gets_a_server_error(gateway: Served, key: str, tools: list[str]) -> None:
    headers = bearer(key)
    document = httpx.get(f"{gateway.url}/v1/openapi.json", headers=headers, timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the description is one schemathesis reads whole
        if result.ok().path not in NOT_FUZZED:
            operations.append(result.ok())
    called = sorted(op.path for op in operations if op.path.endswith(":call"))
    assert called == sorted(f"/v1/tools/{t}:call" for t in tools)
    # Valid requests and invalid ones (wrong types, missing fields): both must be answered well.
    strategy = st.one_of(
        *(op.as_strategy(generation_mode=mode) for op in operations for mode in GenerationMode)
    )
    seen: set[str] = set()
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES * len(operations) * 2,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=strategy)
    def fuzz(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=gateway.url, headers=headers, timeout=15)
        seen.add(case.operation.label)
        statuses[response.status_code] += 1
        case.validate_response(
            response, checks=[not_a_server_error, status_code_conformance, content_type_conformance]
        )

    fuzz()
    print(f"{sum(statuses.values())} requests over {len(seen)} operations: {sorted(statuses.items())}")
    assert len(seen) > len(operations) // 2, sorted(seen)  # the run reached most operations
    assert "Traceback" not in gateway.output()
