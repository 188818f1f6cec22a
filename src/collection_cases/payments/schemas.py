"""Response shapes of debt payments."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class DebtPayment(BaseModel):
    """The debt_payment object."""

    id: str = Field(examples=["dp_5f0c2d7a10b1e3c4d5e6f708"])
    object: Literal["debt_payment"]
    case: str
    amount: int
    currency: str
    type: Literal["full_payment", "partial_payment", "installment"]
    payment_date: int
    payout: str | None = Field(description="The payout that passed this on (null until then)")
    fee_amount: int = Field(description="The case's success fee % of amount, rounded half-up")
    net_amount: int = Field(description="amount - fee_amount")
    created: int
