"""Previews: what create would decide (eligibility, partner, actions, price), storing nothing."""

from __future__ import annotations

from typing import Any

from collection_cases import db
from collection_cases.cases.schemas import CollectionCaseCreate
from collection_cases.cases.service import debtor_document
from collection_cases.cases.verification import (
    REQUIRES_CONTACT,
    REQUIRES_CONTACT_PERSON,
    find_partner,
    missing_details,
)
from collection_cases.partners import pricing

SOLUTION_URL = "https://github.com/collection-cases/collection-cases#verification-at-create"
_ACTIONS = {
    REQUIRES_CONTACT: (
        "provide_contact_details",
        "The debtor needs an email address or a phone number.",
    ),
    REQUIRES_CONTACT_PERSON: (
        "provide_contact_person",
        "A company debtor needs a contact person.",
    ),
}


async def preview(conn: db.Connection, params: CollectionCaseCreate) -> dict[str, Any]:
    debtor = debtor_document(params)
    partner = await find_partner(
        conn,
        country=debtor["country"],
        debtor_type=debtor["type"],
        amount=params.amount_to_recover,
    )
    actions = [
        {
            "type": _ACTIONS[req][0],
            "message": _ACTIONS[req][1],
            "solution_url": SOLUTION_URL,
            "is_blocking": True,
        }
        for req in missing_details(debtor)
    ]
    result: dict[str, Any] = {
        "object": "collection_case_preview",
        "is_eligible": partner is not None,
        "ineligibility_reason": None,
        "partner_assignment": None,
        "required_actions": actions,
        "pricing_preview": None,
    }
    if partner is None:
        result["ineligibility_reason"] = (
            f"No collection partner covers {debtor['type']} debtors in {debtor['country']} "
            f"for this amount."
        )
        return result
    result["partner_assignment"] = {
        "partner_id": partner["id"],
        "partner_name": partner["name"],
        "partner_country": debtor["country"],
    }
    result["pricing_preview"] = pricing.price(
        partner["base_success_fee_pct"], params.due_date
    ).as_dict()
    return result
