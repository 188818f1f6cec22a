"""Verification: which partner takes a case, and what the creditor still has to supply.

Used by create now and by previews and re-verification later, so that all of them agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collection_cases import db
from collection_cases.partners.service import PARTNER_COLUMNS

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


_PARTNER_SQL = f"""
    SELECT {PARTNER_COLUMNS}
    FROM collection_partners
    WHERE %(country)s = ANY(countries) AND %(debtor_type)s = ANY(debtor_types)
      AND min_amount <= %(amount)s AND max_amount >= %(amount)s
    ORDER BY success_rate DESC, id
    LIMIT 1
"""


async def find_partner(
    conn: db.Connection, *, country: str, debtor_type: str, amount: int
) -> dict[str, Any] | None:
    """The best partner (highest success rate) covering this country, debtor type and amount."""
    return await db.fetch_one(
        conn, _PARTNER_SQL, {"country": country, "debtor_type": debtor_type, "amount": amount}
    )


async def verify(conn: db.Connection, *, debtor: dict[str, Any], amount: int) -> Verification:
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
