"""The product advisor's rules: a customer profile → the loan product that fits, and why.

No language model: the profile is read from a JSON data part or picked out of the text with a
few patterns ("earning 48,000", "credit score 720", "25k for a car over 5 years"), then checked
against the bank's products (their own SQLite table): purpose, amount limits, term, minimum
credit score, and how many times the customer's yearly income the bank lends.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

# product, name, purpose, min amount, max amount, max term (months), times yearly income, min score
PRODUCTS = [
    ("MORTGAGE-30Y", "30-year fixed mortgage", "home", 50_000, 1_500_000, 360, 4.5, 620),
    ("AUTO-LOAN", "Car loan", "car", 3_000, 80_000, 84, 0.8, 600),
    ("PERSONAL-LOAN", "Personal loan", "personal", 1_000, 50_000, 84, 0.5, 640),
]
PURPOSES = {
    "home": ("home", "house", "flat", "apartment", "mortgage", "property"),
    "car": ("car", "auto", "vehicle"),
    "personal": ("personal", "holiday", "wedding", "renovation", "debt", "education"),
}
SEGMENTS = ("RETAIL", "PRIVATE", "BUSINESS")
_NUMBER = r"(\d[\d,.]*)\s*(k|thousand)?"
_SCORE = re.compile(r"(?:credit\s+)?score\s*(?:of\s*)?(\d{3})", re.IGNORECASE)
_INCOME = re.compile(
    rf"(?:earn(?:s|ing)?|income\s*(?:of)?|salary\s*(?:of)?)\s*(?:eur|€)?\s*{_NUMBER}", re.IGNORECASE
)
_TERM = re.compile(r"(\d+)\s*(years?|months?)", re.IGNORECASE)
_AMOUNT = re.compile(
    rf"(?:borrow|wants?|needs?|loan\s+of|for)\s*(?:eur|€)?\s*{_NUMBER}\s*(?:eur|€)?", re.IGNORECASE
)


@dataclass
class Profile:
    purpose: str | None = None
    amount: float | None = None
    term_months: int | None = None
    annual_income: float | None = None
    credit_score: int | None = None
    segment: str = "RETAIL"


def _number(digits: str, scale: str | None) -> float:
    value = float(digits.rstrip(".,").replace(",", ""))
    return value * 1000 if scale else value


def read_profile(text: str, data: dict[str, Any]) -> Profile:
    """The profile: the data part's fields, and what the text says of the rest."""
    profile = Profile()
    lowered = text.lower()
    words = set(re.findall(r"[a-z]+", lowered))
    profile.purpose = next((p for p, keys in PURPOSES.items() if words & set(keys)), None)
    if found := _SCORE.search(text):
        profile.credit_score = int(found.group(1))
    if found := _INCOME.search(text):
        profile.annual_income = _number(found.group(1), found.group(2))
    if found := _TERM.search(text):
        count = int(found.group(1))
        profile.term_months = count * 12 if found.group(2).lower().startswith("year") else count
    if found := _AMOUNT.search(text):
        profile.amount = _number(found.group(1), found.group(2))
    profile.segment = next((s for s in SEGMENTS if s.lower() in words), profile.segment)
    for key, value in data.items():  # structured input wins over what the text seemed to say
        if key in Profile.__dataclass_fields__ and value is not None:
            setattr(profile, key, value.upper() if key == "segment" and isinstance(value, str) else value)
    return profile


def missing(profile: Profile) -> str | None:
    """The question to ask back, when the profile is too thin to advise on."""
    if profile.purpose not in PURPOSES:
        return "What is the loan for: a home, a car, or something personal? Give the amount too."
    if not profile.amount or profile.amount <= 0:
        return f"How much does the customer want to borrow for the {profile.purpose}?"
    return None


def _problems(product: tuple[Any, ...], p: Profile) -> tuple[list[str], float]:
    _, name, _, low, high, term, multiple, score = product
    ceiling = float(high) if p.annual_income is None else min(high, p.annual_income * multiple)
    problems = []
    if p.amount is not None and p.amount < low:
        problems.append(f"the {name.lower()} starts at {low:,} EUR")
    if p.amount is not None and p.amount > ceiling:
        why = f"{multiple:g}× the yearly income" if p.annual_income is not None else "the product's limit"
        problems.append(f"{p.amount:,.0f} EUR is more than {why} allows ({ceiling:,.0f} EUR)")
    if p.term_months is not None and p.term_months > term:
        problems.append(f"the term is at most {term} months")
    if p.credit_score is not None and p.credit_score < score:
        problems.append(f"a credit score of {p.credit_score} is below its minimum of {score}")
    return problems, ceiling


def advise(profile: Profile, products: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The recommendation: the first product for the purpose that fits, else the nearest and why not."""
    ranked = [p for p in products if p[2] == profile.purpose] + [
        p for p in products if p[2] == "personal" and profile.purpose == "home"
    ]
    checked = [(product, *_problems(product, profile)) for product in ranked]
    fitting = [(product, ceiling) for product, problems, ceiling in checked if not problems]
    if fitting:
        product, ceiling = fitting[0]
        reasons = [
            f"{profile.amount:,.0f} EUR for a {profile.purpose} is within the {product[1].lower()}'s limits"
        ]
        if profile.credit_score is not None:
            reasons.append(f"a credit score of {profile.credit_score} meets its minimum of {product[7]}")
    else:
        product, reasons, ceiling = checked[0]
    segment = profile.segment if profile.segment in SEGMENTS else "RETAIL"
    return {
        "recommended_product": product[0],
        "product_name": product[1],
        "eligible": bool(fitting),
        "reasons": reasons,
        "max_amount": round(ceiling),
        "alternatives": [p[0] for p, _ in fitting[1:]],
        "profile": asdict(profile),
        "next_step": (
            f"price it: get_product_price(product_id={product[0]}, customer_segment={segment})"
            if fitting
            else f"ask again with what would fit (at most {ceiling:,.0f} EUR), or refer the customer to an advisor"
        ),
    }


def summary(advice: dict[str, Any]) -> str:
    verdict = "fits" if advice["eligible"] else "is the nearest, but does not fit"
    return (
        f"{advice['recommended_product']} ({advice['product_name']}) {verdict}: "
        + "; ".join(advice["reasons"])
        + "."
    )
