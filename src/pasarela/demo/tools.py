"""A Python-code backend for the demo bank: loan payment quotes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from pasarela import tool


class PaymentQuote(BaseModel):
    monthly_payment: float
    total_paid: float
    total_interest: float


@tool(read_only=True)
def loan_payment_quote(
    amount: Annotated[float, Field(gt=0, description="The amount borrowed")],
    annual_rate_percent: Annotated[float, Field(ge=0, le=100, description="Nominal yearly interest rate, %")],
    months: Annotated[int, Field(gt=0, le=480, description="Term of the loan in months")],
) -> PaymentQuote:
    """Quote the fixed monthly payment of an amortised loan (an indication, not an offer)."""
    rate = annual_rate_percent / 100 / 12
    payment = amount / months if rate == 0 else amount * rate / (1 - (1 + rate) ** -months)
    total = payment * months
    return PaymentQuote(
        monthly_payment=round(payment, 2), total_paid=round(total, 2), total_interest=round(total - amount, 2)
    )
