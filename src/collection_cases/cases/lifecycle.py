"""The life of a case: every state change happens here, and only the ones SPEC.md allows.

    create -> pending_verification -> verification -> active | needs_details | pending_verification
    needs_details --(details supplied by update, or a file)--> verification again
    active <-> paused                  (creditor: pause / resume)
    open -> closed                     (creditor: withdrawn; partner: the partner codes)
    closed is final

Each action locks the case row (SELECT ... FOR UPDATE) inside the request's transaction, checks
the transition, then updates and writes its events: two concurrent actions on one case
serialise on the lock, and the second sees the first's result.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from collection_cases import db, ids
from collection_cases.accounts.service import Principal
from collection_cases.cases.service import COLUMNS, PARTNER_KEYS, render
from collection_cases.cases.verification import missing_details, verify
from collection_cases.errors import InvalidRequestError, StateInvalid, not_found
from collection_cases.events import service as events
from collection_cases.partners import pricing
from collection_cases.partners.service import PARTNER_COLUMNS

OPEN = frozenset({"pending_verification", "needs_details", "active", "paused"})
CREDITOR_CLOSE_CODES = ("withdrawn",)
PARTNER_CLOSE_CODES = (
    "paid",
    "partially_paid",
    "settled",
    "uncollectible",
    "debtor_insolvent",
    "debtor_untraceable",
    "disputed",
    "statute_barred",
)
# action -> statuses it may start from (its target is fixed, or decided by verification).
TRANSITIONS: dict[str, frozenset[str]] = {
    "update": OPEN,
    "verify": frozenset({"pending_verification", "needs_details"}),
    "assign_partner": frozenset({"pending_verification"}),
    "request_details": frozenset({"pending_verification", "needs_details", "active"}),
    "pause": frozenset({"active"}),
    "resume": frozenset({"paused"}),
    "close": OPEN,
    "record_payment": OPEN,
    "message": OPEN,
}

_LOCK = (
    f"SELECT {COLUMNS}, debtor_type, debtor_country, success_fee_pct, collection_partner_id "
    "FROM collection_cases WHERE id = %(id)s AND {scope} FOR UPDATE"
)


async def lock_case(
    conn: db.Connection, principal: Principal, case_id: str, action: str
) -> dict[str, Any]:
    """The case row, locked for this transaction, if `action` may start from its status."""
    uid = ids.decode("dc", case_id)
    row = None
    if uid is not None:
        row = await db.fetch_one(conn, _LOCK, {"id": uid}, scope=principal.scope)
    if row is None:
        raise not_found("collection_case", case_id)
    if row["status"] not in TRANSITIONS[action]:
        verb = action.replace("_", " ")
        raise StateInvalid(
            f"Cannot {verb} a collection_case whose status is '{row['status']}'.",
            param="status" if row["status"] != "closed" else None,
        )
    return row


async def save(
    conn: db.Connection, principal: Principal, row: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply `changes` (column -> value) to the locked case; the updated row."""
    sets = ", ".join(f"{column} = %({column})s" for column in changes)
    updated = await db.fetch_one(
        conn,
        f"UPDATE collection_cases SET {sets}, updated_at = now() "
        f"WHERE id = %(id)s AND {{scope}} RETURNING {COLUMNS}",
        {
            **{k: Jsonb(v) if isinstance(v, dict | list) else v for k, v in changes.items()},
            "id": row["id"],
        },
        scope=principal.scope,
    )
    assert updated is not None
    return updated


def _previous(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in before.items() if after.get(k) != v}


async def emit_changes(
    conn: db.Connection,
    principal: Principal,
    before: dict[str, Any],
    after_row: dict[str, Any],
    request_id: str | None,
) -> dict[str, Any]:
    """collection_case.updated with previous_attributes, plus the status event if it moved."""
    old, new = render(before), render(after_row)
    previous = _previous(old, new)
    if previous:
        await events.record(
            conn,
            principal,
            "collection_case.updated",
            new,
            previous_attributes=previous,
            request_id=request_id,
        )
    if new["status"] != old["status"] and new["status"] in (
        "active",
        "needs_details",
        "paused",
        "closed",
    ):
        await events.record(
            conn,
            principal,
            f"collection_case.{new['status']}",
            new,
            previous_attributes={"status": old["status"]},
            request_id=request_id,
        )
    return new


def _partner_changes(partner: dict[str, Any], due_date: Any) -> dict[str, Any]:
    fee = pricing.price(partner["base_success_fee_pct"], due_date).total_success_fee_pct
    return {
        "status": "active",
        "requirements": [],
        "collection_partner_id": partner["id"],
        "collection_partner": {k: partner[k] for k in PARTNER_KEYS},
        "success_fee_pct": fee,
    }


async def verify_case(
    conn: db.Connection,
    *,
    principal: Principal,
    case_id: str,
    request_id: str | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """Run verification on a pending_verification / needs_details case.

    An active case is returned as it is. With `strict` (the test helper, the operator command)
    a paused or closed case is refused; otherwise (after an update or upload) left alone.
    """
    try:
        row = await lock_case(conn, principal, case_id, "verify")
    except StateInvalid as exc:
        current = await _current(conn, principal, case_id)
        # Verifying an active case again is a no-op; paused and closed ones are refused.
        if strict and current["status"] != "active":
            raise exc from None
        return current
    if row["collection_partner_id"] is not None:
        # A partner already has the case (the details were asked for later): it keeps its
        # partner and its fee; verification only checks the details again.
        missing = missing_details(row["debtor"])
        changes: dict[str, Any] = {
            "requirements": missing,
            "status": "needs_details" if missing else "active",
        }
        updated = await save(conn, principal, row, changes)
        return await emit_changes(conn, principal, row, updated, request_id)
    result = await verify(conn, debtor=row["debtor"], amount=row["amount_to_recover"])
    if result.status == "active":
        assert result.partner is not None
        changes = _partner_changes(result.partner, row["due_date"])
    else:
        changes = {"status": result.status, "requirements": result.requirements}
    updated = await save(conn, principal, row, changes)
    return await emit_changes(conn, principal, row, updated, request_id)


async def _current(conn: db.Connection, principal: Principal, case_id: str) -> dict[str, Any]:
    from collection_cases.cases.service import get_case

    return await get_case(conn, principal=principal, case_id=case_id)


async def update_case(
    conn: db.Connection,
    *,
    principal: Principal,
    case_id: str,
    metadata: dict[str, str] | None,
    creditor_reference: str | None,
    debtor: dict[str, str] | None,
    fields_set: set[str],
    request_id: str | None = None,
) -> dict[str, Any]:
    """Metadata (Stripe semantics: "" removes a key), creditor_reference and the debtor's
    contact details, while the case is open. Supplying what needs_details asked for runs
    verification again."""
    row = await lock_case(conn, principal, case_id, "update")
    changes: dict[str, Any] = {}
    if metadata is not None:
        merged = {**row["metadata"], **metadata}
        merged = {k: v for k, v in merged.items() if v != ""}
        if len(merged) > 50:
            from collection_cases.errors import ValidationFailed

            raise ValidationFailed("metadata can have at most 50 keys.", param="metadata")
        changes["metadata"] = merged
    if "creditor_reference" in fields_set:
        changes["creditor_reference"] = creditor_reference or None
    if debtor:
        new_debtor = dict(row["debtor"])
        for key, value in debtor.items():
            if key == "contact_person" and value and new_debtor.get("type") != "company":
                raise InvalidRequestError(
                    "contact_person is only accepted for debtors of type 'company'.",
                    param="debtor.contact_person",
                )
            new_debtor[key] = value or None
        changes["debtor"] = new_debtor
        if row["status"] == "needs_details":
            changes["requirements"] = missing_details(new_debtor)
    if not changes:
        return render(row)
    updated = await save(conn, principal, row, changes)
    case = await emit_changes(conn, principal, row, updated, request_id)
    if row["status"] == "needs_details" and not changes.get("requirements", True):
        case = await verify_case(conn, principal=principal, case_id=case_id, request_id=request_id)
    return case


async def pause(
    conn: db.Connection, *, principal: Principal, case_id: str, request_id: str | None = None
) -> dict[str, Any]:
    row = await lock_case(conn, principal, case_id, "pause")
    updated = await save(conn, principal, row, {"status": "paused"})
    return await emit_changes(conn, principal, row, updated, request_id)


async def resume(
    conn: db.Connection, *, principal: Principal, case_id: str, request_id: str | None = None
) -> dict[str, Any]:
    row = await lock_case(conn, principal, case_id, "resume")
    updated = await save(conn, principal, row, {"status": "active"})
    return await emit_changes(conn, principal, row, updated, request_id)


async def close(
    conn: db.Connection,
    *,
    principal: Principal,
    case_id: str,
    close_code: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    row = await lock_case(conn, principal, case_id, "close")
    updated = await save(conn, principal, row, {"status": "closed", "close_code": close_code})
    return await emit_changes(conn, principal, row, updated, request_id)


async def request_details(
    conn: db.Connection,
    *,
    principal: Principal,
    case_id: str,
    requirements: list[str],
    request_id: str | None = None,
) -> dict[str, Any]:
    row = await lock_case(conn, principal, case_id, "request_details")
    updated = await save(
        conn, principal, row, {"status": "needs_details", "requirements": requirements}
    )
    return await emit_changes(conn, principal, row, updated, request_id)


async def assign_partner(
    conn: db.Connection,
    *,
    principal: Principal,
    case_id: str,
    partner_id: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    """An operator's choice of partner for a case verification could not place."""
    row = await lock_case(conn, principal, case_id, "assign_partner")
    partner = await db.fetch_one(
        conn, f"SELECT {PARTNER_COLUMNS} FROM collection_partners WHERE id = %s", (partner_id,)
    )
    if partner is None:
        raise not_found("collection_partner", partner_id, param="partner")
    updated = await save(conn, principal, row, _partner_changes(partner, row["due_date"]))
    return await emit_changes(conn, principal, row, updated, request_id)
