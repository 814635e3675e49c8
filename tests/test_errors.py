"""The error tree: copies with more detail leave the original as it was."""

from __future__ import annotations

from pasarela.errors import CircuitOpen, UpstreamError


def test_with_extra_is_a_copy_of_the_same_kind_and_the_original_is_untouched() -> None:
    original = CircuitOpen("crm is failing", backend="crm", retry_after=30)
    noted = original.with_extra(fallbacks_tried=["cache", "crm_replica"])
    assert type(noted) is CircuitOpen and isinstance(noted, UpstreamError)
    assert noted.to_problem()["fallbacks_tried"] == ["cache", "crm_replica"]
    assert "fallbacks_tried" not in original.to_problem()
    assert (noted.backend, noted.retry_after, noted.headers()) == ("crm", 30, {"Retry-After": "30"})
    assert str(noted) == str(original) == "crm is failing"
