"""Two gateways on one PostgreSQL state store: an event ingested at one reaches a subscriber
waiting at the other (the append's NOTIFY wakes the other's tail)."""

from __future__ import annotations

from pathlib import Path

import anyio
import orjson
import pytest

from tests.conftest import POSTGRES_URL
from tests.events.support import (
    SUPPORT_EU_KEY,
    config_text,
    customer_updated,
    gateway,
    push,
    standard_signed,
    write,
)
from tests.helpers.gateway import bearer

pytestmark = pytest.mark.anyio


async def test_an_event_ingested_at_one_replica_reaches_a_subscriber_of_another(
    state_url: str, tmp_path: Path
) -> None:
    if not state_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL state store")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    text = config_text(POSTGRES_URL).replace(
        "poll_interval: 200ms", "poll_interval: 30s"
    )  # only NOTIFY wakes
    async with (
        gateway(write(tmp_path / "a", text)) as (one, _),
        gateway(write(tmp_path / "b", text)) as (other, runtime_b),
    ):
        start = (await other.get("/v1/events?types=customer_updated", headers=bearer(SUPPORT_EU_KEY))).json()
        found: dict[str, object] = {}

        async def wait_at_b() -> None:
            answer = await other.get(
                f"/v1/events?types=customer_updated&after={start['next_cursor']}&wait=20s",
                headers=bearer(SUPPORT_EU_KEY),
            )
            found.update(answer.json())

        with anyio.fail_after(15):
            async with anyio.create_task_group() as group:
                group.start_soon(wait_at_b)
                await anyio.sleep(0.5)
                body = orjson.dumps(customer_updated("12345", "EU", event_id="r1"))
                assert (await push(one, "crm", body, standard_signed(body, "m-r1"))).status_code == 202
        assert [e["id"] for e in found["events"]] == ["r1"]  # type: ignore[attr-defined]
        assert runtime_b.events.core.tail.high >= 1, "B's tail followed the log"
