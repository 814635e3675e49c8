"""The product advisor's rules read a profile from words or JSON and name the product that fits;
without a2a-sdk the demo runs without the advisor."""

from __future__ import annotations

import pytest

from pasarela.config.loader import load_config_text
from pasarela.demo import optional, runner
from pasarela.demo.advisor_rules import PRODUCTS, Profile, advise, missing, read_profile


def test_a_profile_is_read_from_words() -> None:
    profile = read_profile(
        "A private-banking customer with an income of 150k wants to borrow 400,000 for a home over 25 years, "
        "credit score of 705.",
        {},
    )
    assert profile == Profile("home", 400_000, 300, 150_000, 705, "PRIVATE")


def test_structured_fields_win_over_the_words() -> None:
    profile = read_profile("wants 10,000 for a car", {"amount": 12000, "segment": "business"})
    assert (profile.purpose, profile.amount, profile.segment) == ("car", 12000, "BUSINESS")


@pytest.mark.parametrize(
    ("profile", "product", "eligible", "reason"),
    [
        (Profile("car", 25_000, 60, 48_000, 720), "AUTO-LOAN", True, "within the car loan's limits"),
        (Profile("car", 70_000, None, 40_000, 580), "AUTO-LOAN", False, "below its minimum of 600"),
        (Profile("home", 300_000, 300, 50_000, 700), "MORTGAGE-30Y", False, "4.5× the yearly income"),
        (Profile("home", 20_000, None, 60_000, 700), "PERSONAL-LOAN", True, "personal loan's limits"),
        (Profile("personal", 60_000), "PERSONAL-LOAN", False, "the product's limit"),
    ],
)
def test_the_rules_name_the_product_and_why(
    profile: Profile, product: str, eligible: bool, reason: str
) -> None:
    advice = advise(profile, PRODUCTS)
    assert (advice["recommended_product"], advice["eligible"]) == (product, eligible)
    assert any(reason in r for r in advice["reasons"]), advice["reasons"]
    assert advice["next_step"].startswith("price it" if eligible else "ask again")


def test_a_thin_profile_is_asked_back() -> None:
    assert missing(read_profile("which loan?", {})) == (
        "What is the loan for: a home, a car, or something personal? Give the amount too."
    )
    assert missing(read_profile("a car", {})) == "How much does the customer want to borrow for the car?"


def test_without_a2a_the_demo_configuration_drops_the_advisor() -> None:
    path = runner.config_path()
    text = optional.without(path.read_text(encoding="utf-8"), optional.PRODUCT_ADVISOR)
    environ = {
        "PASARELA_SECRET_DEMO_TRANSACTIONS_DB": "sqlite:///x.db",
        "PASARELA_SECRET_DEMO_WEBHOOK_SECRET": "whsec_" + "a" * 44,
    } | {
        f"PASARELA_SECRET_DEMO_{name}": "x"
        for name in (
            "SUPPORT_BOT_KEY", "SALES_BOT_KEY", "COMPLIANCE_BOT_KEY", "OPS_ADMIN_KEY", "CRM_API_KEY", "TICKETING_TOKEN",
            "CORE_BANKING_PASSWORD", "LOANS_TOKEN", "CREDIT_BUREAU_KEY", "REPORTS_TOKEN", "AUDIT_KEY",
            "PRICING_TOKEN",
        )
    }  # fmt: skip
    settings = load_config_text(text, source=str(path), base_dir=path.parent, environ=environ).settings
    assert "product_advisor" not in settings.backends
    assert all("ask_product_advisor" not in tools for tools in settings.access.values())
    assert "pricing" in settings.backends and "get_product_price" in settings.access["sales"]
