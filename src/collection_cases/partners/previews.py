"""Previews: what create would decide (eligibility, partner, actions, price), storing nothing.

A preview takes what the previews page documents (amount, currency, debtor type, name and
country, due date). What create would still need is listed in `required_actions`: a missing
address blocks submission (create refuses it); missing contact details do not (the case is
accepted and waits in needs_details until they come).
"""

from __future__ import annotations

from typing import Any

from collection_cases import db
from collection_cases.cases.schemas import PreviewParams
from collection_cases.cases.service import debtor_document
from collection_cases.cases.verification import (
    REQUIRES_CONTACT,
    REQUIRES_CONTACT_PERSON,
    find_partner,
    missing_details,
)
from collection_cases.errors import ParameterMissing
from collection_cases.partners import pricing

REQUIRES_ADDRESS = "debtor.address"
# requirement -> (action type, message, blocks submission)
ACTIONS: dict[str, tuple[str, str, bool]] = {
    REQUIRES_ADDRESS: (
        "provide_address",
        "Submitting the case needs the debtor's postal address (line1, city, postal_code, "
        "country).",
        True,
    ),
    REQUIRES_CONTACT: (
        "provide_contact_details",
        "The debtor needs an email address or a phone number; without one the case waits in "
        "needs_details until you add it.",
        False,
    ),
    REQUIRES_CONTACT_PERSON: (
        "provide_contact_person",
        "A company debtor needs a contact person; without one the case waits in needs_details "
        "until you add it.",
        False,
    ),
}
# Where the fix is explained: the create operation in the served API reference.
SOLUTION_PATH = "/redoc#operation/create_collection_case"


def required_actions(debtor: dict[str, Any], base_url: str) -> list[dict[str, Any]]:
    missing = ([REQUIRES_ADDRESS] if debtor["address"] is None else []) + missing_details(debtor)
    return [
        {
            "type": ACTIONS[requirement][0],
            "message": ACTIONS[requirement][1],
            "solution_url": base_url.rstrip("/") + SOLUTION_PATH,
            "is_blocking": ACTIONS[requirement][2],
        }
        for requirement in missing
    ]


async def preview(conn: db.Connection, params: PreviewParams, *, base_url: str) -> dict[str, Any]:
    debtor = debtor_document(params.debtor)
    if debtor["country"] is None:
        raise ParameterMissing(
            "Missing required param: debtor.country (or debtor.address.country).",
            param="debtor.country",
        )
    partner = await find_partner(
        conn,
        country=debtor["country"],
        debtor_type=debtor["type"],
        amount=params.amount_to_recover,
    )
    result: dict[str, Any] = {
        "is_eligible": partner is not None,
        "ineligibility_reason": None,
        "partner_assignment": None,
        "required_actions": required_actions(debtor, base_url),
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
