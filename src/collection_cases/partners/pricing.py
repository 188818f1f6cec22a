"""Success fee pricing: the partner's base fee plus a surcharge that grows with the debt's age.

The tiers are data (documented in the README). Age is counted in whole days from the due date
to the day of pricing (UTC). A case keeps the fee it was priced at when a partner took it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

# (up to and including this many days past due, surcharge in percentage points)
AGE_SURCHARGE_TIERS: tuple[tuple[int | None, Decimal], ...] = (
    (90, Decimal("0.00")),
    (180, Decimal("2.00")),
    (365, Decimal("5.00")),
    (730, Decimal("8.00")),
    (None, Decimal("12.00")),
)


@dataclass(frozen=True, slots=True)
class Pricing:
    base_success_fee_pct: Decimal
    age_surcharge_pct: Decimal
    total_success_fee_pct: Decimal

    def as_dict(self) -> dict[str, float]:
        return {
            "base_success_fee_pct": float(self.base_success_fee_pct),
            "age_surcharge_pct": float(self.age_surcharge_pct),
            "total_success_fee_pct": float(self.total_success_fee_pct),
        }


def days_past_due(due_date: date, today: date | None = None) -> int:
    today = today or datetime.now(UTC).date()
    return max((today - due_date).days, 0)


def age_surcharge(days: int) -> Decimal:
    for limit, surcharge in AGE_SURCHARGE_TIERS:
        if limit is None or days <= limit:
            return surcharge
    raise AssertionError("the last tier has no limit")


def price(base_fee_pct: Decimal, due_date: date, today: date | None = None) -> Pricing:
    surcharge = age_surcharge(days_past_due(due_date, today))
    base = Decimal(base_fee_pct)
    return Pricing(base, surcharge, base + surcharge)


def fee_amount(amount: int, fee_pct: Decimal) -> int:
    """The fee on `amount` minor units, rounded half-up to the unit."""
    return int((Decimal(amount) * Decimal(fee_pct) / 100).quantize(Decimal(1), ROUND_HALF_UP))
