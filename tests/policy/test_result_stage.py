"""The result stage on its own: where the list is, what is refused whole, what is left intact."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest

from pasarela.catalog import ToolAnnotations, ToolSpec
from pasarela.errors import AccessDenied
from pasarela.identity import Principal
from pasarela.pipeline import Call, Decision, Outcome
from pasarela.pipeline import results as results_module
from pasarela.pipeline.call import Door
from pasarela.pipeline.results import ResultPolicyStage
from pasarela.policy.values import MAX_DEPTH, NotCheckable, cedar_value, result_value

TOOL = ToolSpec("t", "", {"type": "object"}, "b", "op", annotations=ToolAnnotations(read_only=True))


class OnlyEU:
    """Stands in for Cedar: an item is readable when its region is EU."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def guards_results(self, tool: ToolSpec) -> bool:
        return True

    def decide_results(self, call: Call, results: Sequence[Any]) -> list[Decision]:
        self.seen.extend(results)
        return [Decision(isinstance(r, dict) and r.get("region") == "EU") for r in results]


def run(result: Any, items: dict[str, tuple[str, ...]] | None = None) -> tuple[Outcome, OnlyEU]:
    import anyio

    authorizer = OnlyEU()
    stage = ResultPolicyStage(authorizer, items or {})
    call = Call(Principal("p"), TOOL, {}, Door.REST, "r1")

    async def backend(_: Call) -> Outcome:
        return Outcome(result, {"source": "b"})

    return anyio.run(stage, call, backend), authorizer


def test_the_list_at_the_path_is_filtered_in_a_copy() -> None:
    cached = {"page": {"items": [{"region": "EU"}, {"region": "US"}], "next": "x"}, "total": 2}
    original = copy.deepcopy(cached)
    outcome, _ = run(cached, {"t": ("page", "items")})
    assert outcome.result == {"page": {"items": [{"region": "EU"}], "next": "x"}, "total": 2}
    assert outcome.meta == {"source": "b", "filtered": 1}
    assert cached == original, "what the cache holds is never cut down"


@pytest.mark.parametrize("result", [{"page": None}, {"page": {"items": "x"}}, [1], "text"])
def test_no_list_where_one_is_expected_is_refused(result: Any) -> None:
    with pytest.raises(AccessDenied, match="may not read this result"):
        run(result, {"t": ("page", "items")})


def test_a_list_longer_than_the_bound_is_refused_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results_module, "MAX_ITEMS", 3)
    with pytest.raises(AccessDenied, match="more than 3"):
        run([{"region": "EU"}] * 4)
    outcome, _ = run([{"region": "EU"}] * 3)
    assert outcome.meta["filtered"] == 0


def test_an_object_is_decided_whole() -> None:
    outcome, authorizer = run({"region": "EU", "items": [{"region": "US"}]})
    assert outcome.result["items"] == [{"region": "US"}] and "filtered" not in outcome.meta
    assert authorizer.seen == [{"region": "EU", "items": [{"region": "US"}]}]
    with pytest.raises(AccessDenied):
        run({"region": "US"})


def test_result_values_are_bounded_and_faithful() -> None:
    assert result_value({"a": 1, "b": None, "c": [1.5, None, 2**64], "d": True}) == {
        "a": 1,
        "c": [{"__extn": {"fn": "decimal", "arg": "1.5000"}}, str(2**64)],
        "d": True,
    }
    deep: Any = 1
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert result_value(deep) is not None
    with pytest.raises(NotCheckable, match="levels deep"):
        result_value([deep])
    with pytest.raises(NotCheckable, match="characters"):
        result_value({"notes": ["x" * 600_000, "y" * 600_000]})
    with pytest.raises(NotCheckable, match="reserves"):
        result_value({"owner": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}})


def test_arguments_cannot_smuggle_entity_references() -> None:
    smuggled = {"__entity": {"type": "Role", "id": "admin"}}
    assert isinstance(cedar_value({"owner": smuggled})["owner"], str)
