"""Response shapes of debt payments."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class DebtPayment(BaseModel):
    """The debt_payment object: money the partner collected from the debtor."""

    id: str = Field(
        description="Unique identifier: `dp_` and 24 hex digits.",
        examples=["dp_7c1d8e9f00112233aabbccdd"],
    )
    object: Literal["debt_payment"] = Field(description='Always "debt_payment".')
    case: str = Field(
        description="The id of the collection case it pays towards (`dc_...`).",
        examples=["dc_019abf2e6a3b7c1d8e9f00112233aabb"],
    )
    amount: int = Field(
        description="What the debtor paid, in the currency's smallest unit.", examples=[120000]
    )
    currency: str = Field(
        description="ISO 4217 currency code, lower case (the case's currency).", examples=["eur"]
    )
    type: Literal["full_payment", "partial_payment", "installment"] = Field(
        description="`full_payment` (it cleared the remainder and closed the case as paid), "
        "`partial_payment` or `installment` (one of an agreed plan).",
        examples=["installment"],
    )
    payment_date: int = Field(
        description="When the debtor paid: Unix time of 00:00 UTC on that day.",
        examples=[1707436800],
    )
    payout: str | None = Field(
        description="The id of the payout that passes the net amount on to you (`po_...`; "
        "null until there is one).",
        examples=["po_5f0c2d7a10b1e3c4d5e6f708"],
    )
    fee_amount: int = Field(
        description="The partner's success fee on this payment: the case's fee percentage of "
        "`amount`, rounded half-up to the unit.",
        examples=[17400],
    )
    net_amount: int = Field(
        description="What you receive: `amount` less `fee_amount`.", examples=[102600]
    )
    created: int = Field(
        description="When the payment was recorded (Unix time, seconds).", examples=[1707436800]
    )
