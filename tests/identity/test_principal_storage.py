"""A principal can be stored and restored, so work can run later as the same principal."""

from __future__ import annotations

import orjson
import pytest

from pasarela.identity import Principal

ALICE = Principal("alice", frozenset({"teller"}), {"region": "EU", "level": 3}, kind="user")
AGENT = Principal("support-bot", frozenset({"support", "reader"}), {"region": "EU"}, on_behalf_of=ALICE)


def test_a_principal_survives_a_round_trip_through_json() -> None:
    stored = orjson.dumps(AGENT.to_json())
    assert Principal.from_json(orjson.loads(stored)) == AGENT


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be an object"),
        ({"roles": [], "attributes": {}, "kind": "agent"}, "needs an id"),
        ({"id": "x", "roles": "admin", "attributes": {}, "kind": "agent"}, "roles must be a list"),
        ({"id": "x", "roles": [], "attributes": [], "kind": "agent"}, "attributes must be an object"),
        ({"id": "x", "roles": [], "attributes": {}, "kind": 1}, "kind must be a string"),
        (
            {"id": "x", "roles": [], "attributes": {}, "kind": "agent", "on_behalf_of": {"id": ""}},
            "needs an id",
        ),
    ],
)
def test_a_malformed_stored_principal_is_refused_clearly(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Principal.from_json(data)  # type: ignore[arg-type]
