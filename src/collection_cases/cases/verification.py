"""Verification: which partner takes a case, and what the creditor still has to supply.

Used by create now and by previews and re-verification later, so that all of them agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from collection_cases.partners.models import CollectionPartner

REQUIRES_CONTACT = "debtor.email_or_phone"
REQUIRES_CONTACT_PERSON = "debtor.contact_person"


@dataclass(slots=True)
class Verification:
    status: str
    partner: dict[str, Any] | None = None
    requirements: list[str] = field(default_factory=list)


def missing_details(debtor: dict[str, Any]) -> list[str]:
    missing = []
    if not debtor.get("email") and not debtor.get("phone"):
        missing.append(REQUIRES_CONTACT)
    if debtor.get("type") == "company" and not debtor.get("contact_person"):
        missing.append(REQUIRES_CONTACT_PERSON)
    return missing


async def find_partner(
    conn: AsyncConnection, *, country: str, debtor_type: str, amount: int
) -> dict[str, Any] | None:
    """The best partner (highest success rate) covering this country, debtor type and amount."""
    p = CollectionPartner
    row = (
        await conn.execute(
            select(p.id, p.name, p.email, p.phone, p.site, p.base_success_fee_pct)
            .where(
                p.countries.any_() == country,
                p.debtor_types.any_() == debtor_type,
                p.min_amount <= amount,
                p.max_amount >= amount,
            )
            .order_by(p.success_rate.desc(), p.id)
            .limit(1)
        )
    ).first()
    return dict(row._mapping) if row else None


async def verify(conn: AsyncConnection, *, debtor: dict[str, Any], amount: int) -> Verification:
    """Missing contact details -> needs_details; no partner -> pending_verification; else active."""
    requirements = missing_details(debtor)
    if requirements:
        return Verification(status="needs_details", requirements=requirements)
    partner = await find_partner(
        conn, country=debtor["country"], debtor_type=debtor["type"], amount=amount
    )
    if partner is None:
        return Verification(status="pending_verification")
    return Verification(status="active", partner=partner)
