"""At least once across a kill -9: a real `pasarela serve` is killed with SIGKILL while events
are being pushed to it and read from it. After a restart, every event it acknowledged (2xx) is
in the log, a producer resending everything stores nothing twice, and a reader resuming its
server-kept cursor gets every event (some of them again, never none)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import httpx
import orjson
import pytest

from tests.events.support import AUDITOR_KEY, ENV, config_text, customer_updated, standard_signed, write
from tests.helpers.gateway import bearer
from tests.helpers.processes import served
from tests.helpers.servers import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

EVENTS = 300
PRODUCERS = 8
KILL_AFTER = EVENTS // 3  # acknowledged events before the kill


def messages() -> list[tuple[str, bytes]]:
    found = []
    for n in range(EVENTS):
        customer, region = ("12345", "EU") if n % 2 else ("67890", "US")
        found.append((f"k{n}", orjson.dumps(customer_updated(customer, region, event_id=f"k{n}"))))
    return found


async def read_page(client: httpx.AsyncClient, after: str | None) -> dict[str, object]:
    """One page for the auditor's consumer `audit`: `after` acknowledges what came before it,
    None resumes from what was acknowledged last."""
    query = "types=customer_updated&consumer=audit&wait=1s&limit=50" + (f"&after={after}" if after else "")
    answer = await client.get(f"/v1/events?{query}", headers=bearer(AUDITOR_KEY))
    assert answer.status_code == 200, answer.text
    page: dict[str, object] = answer.json()
    return page


async def test_kill_9_loses_nothing_acknowledged_and_stores_duplicates_once(
    state_url: str, tmp_path: Path
) -> None:
    port = free_port()
    config = write(tmp_path, config_text(state_url))
    sent = messages()
    acknowledged: set[str] = set()
    delivered: list[str] = []

    with served(config, port, ENV, log=tmp_path / "first.log") as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            cursor: str | None = "0"
            killed = anyio.Event()

            async def produce(share: list[tuple[str, bytes]]) -> None:
                for event_id, body in share:
                    if killed.is_set():
                        return
                    try:
                        answer = await client.post(
                            "/v1/events/crm", content=body, headers=standard_signed(body, f"m-{event_id}")
                        )
                    except httpx.TransportError:
                        return  # killed under this request: no answer, so not acknowledged
                    assert answer.status_code in (200, 202), answer.text
                    acknowledged.add(event_id)
                    if len(acknowledged) >= KILL_AFTER and not killed.is_set():
                        gateway.process.kill()  # SIGKILL: no shutdown, no flush, requests in flight
                        killed.set()

            async def consume() -> None:
                nonlocal cursor
                while not killed.is_set():
                    try:
                        page = await read_page(client, cursor)
                    except httpx.TransportError:
                        return
                    delivered.extend(str(e["id"]) for e in page["events"])  # type: ignore[attr-defined]
                    cursor = str(page["next_cursor"])

            with anyio.fail_after(120):
                async with anyio.create_task_group() as group:
                    group.start_soon(consume)
                    for n in range(PRODUCERS):
                        group.start_soon(produce, sent[n::PRODUCERS])
            gateway.process.wait()
        assert killed.is_set() and len(acknowledged) < EVENTS, "killed in the middle"

    with served(config, port, ENV, log=tmp_path / "second.log") as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            # The producer never learnt about some: it sends everything again.
            answers = {}
            for event_id, body in sent:
                answer = await client.post(
                    "/v1/events/crm", content=body, headers=standard_signed(body, f"m-{event_id}")
                )
                answers[event_id] = answer.status_code
            assert all(answers[i] == 200 for i in acknowledged), "every acknowledged event survived the kill"
            assert set(answers.values()) <= {200, 202}

            # The reader resumes from the cursor it acknowledged last.
            page = await read_page(client, None)
            with anyio.fail_after(60):
                while True:
                    delivered.extend(str(e["id"]) for e in page["events"])  # type: ignore[attr-defined]
                    if not page["events"] and set(delivered) >= {i for i, _ in sent}:
                        break
                    page = await read_page(client, str(page["next_cursor"]))

            stored = (
                await client.get(
                    "/v1/events?types=customer_updated&after=0&limit=500", headers=bearer(AUDITOR_KEY)
                )
            ).json()["events"]
    counts = Counter(e["id"] for e in stored)
    assert len(stored) == EVENTS and max(counts.values()) == 1, "each event stored once"
    assert [int(e["sequence"]) for e in stored] == sorted(int(e["sequence"]) for e in stored)
    assert set(delivered) == {i for i, _ in sent}, "nothing lost on the way out"
    assert len(delivered) >= EVENTS  # at least once: what was read but not acknowledged came again
