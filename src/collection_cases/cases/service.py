"""Collection cases: create, retrieve, list."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from collection_cases import db, ids
from collection_cases.accounts.service import Principal
from collection_cases.cases.schemas import CollectionCaseCreate, DebtorFields, unix_date
from collection_cases.cases.verification import verify
from collection_cases.errors import not_found
from collection_cases.events import service as events
from collection_cases.pagination import Listing, ListParams, Page, paginate
from collection_cases.partners import pricing

REFERENCE_ATTEMPTS = 10
# Everything the object shows; account_id never leaves the database.
COLUMNS = (
    "id, is_test, reference, status, close_code, amount_to_recover, remainder, currency, "
    "debtor, collection_partner, requirements, creditor_reference, due_date, metadata, created_at"
)
SELECT = f"SELECT {COLUMNS} FROM collection_cases"
_INSERT = f"""
    INSERT INTO collection_cases (
        id, reference, account_id, is_test, status, amount_to_recover, remainder, currency,
        debtor, debtor_type, debtor_country, collection_partner_id, collection_partner,
        requirements, creditor_reference, due_date, metadata, success_fee_pct
    ) VALUES (
        %(id)s, %(reference)s, %(account_id)s, %(is_test)s, %(status)s, %(amount)s, %(amount)s,
        %(currency)s, %(debtor)s, %(debtor_type)s, %(debtor_country)s, %(partner_id)s,
        %(partner)s, %(requirements)s, %(creditor_reference)s, %(due_date)s, %(metadata)s,
        %(fee_pct)s
    )
    ON CONFLICT (reference) DO NOTHING
    RETURNING {COLUMNS}
"""
_BY_ID = SELECT + " WHERE id = %(id)s AND {scope}"
_BY_REFERENCE = SELECT + " WHERE reference = %(reference)s AND {scope}"
LISTING = Listing(
    source="collection_cases",
    columns=COLUMNS,
    kind="collection_case",
    parse=lambda value: ids.decode("dc", value),
)
_DEBTOR_KEYS = ("type", "name", "contact_person", "email", "phone", "address", "country")
_ADDRESS_KEYS = ("line1", "line2", "city", "state", "postal_code", "country")
PARTNER_KEYS = ("id", "name", "email", "phone", "site")


def _ordered(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    # jsonb stores keys in its own order; show them in the documented one. zip/map rather
    # than a comprehension: no frame of its own (three per case, ten cases a list page).
    return dict(zip(keys, map(doc.get, keys), strict=True))


def render(m: dict[str, Any]) -> dict[str, Any]:
    partner = m["collection_partner"]
    debtor = _ordered(m["debtor"], _DEBTOR_KEYS)
    debtor["address"] = _ordered(debtor["address"], _ADDRESS_KEYS)
    return {
        "id": ids.encode("dc", m["id"]),
        "object": "collection_case",
        "reference": m["reference"],
        "status": m["status"],
        "close_code": m["close_code"],
        "amount_to_recover": m["amount_to_recover"],
        "remainder": m["remainder"],
        "currency": m["currency"],
        "debtor": debtor,
        "collection_partner": _ordered(partner, PARTNER_KEYS) if partner else None,
        "requirements": m["requirements"],
        "creditor_reference": m["creditor_reference"],
        "due_date": unix_date(m["due_date"]),
        "is_test": m["is_test"],
        "metadata": m["metadata"],
        "created": int(m["created_at"].timestamp()),
    }


def debtor_document(d: DebtorFields) -> dict[str, Any]:
    """The debtor as stored; `country` defaults to the address's."""
    a = d.address
    return {
        "type": d.type,
        "name": d.name,
        "contact_person": d.contact_person,
        "email": d.email,
        "phone": d.phone,
        "address": None
        if a is None
        else {
            "line1": a.line1,
            "line2": a.line2,
            "city": a.city,
            "state": a.state,
            "postal_code": a.postal_code,
            "country": a.country,
        },
        "country": d.country or (a.country if a else None),
    }


async def create_case(
    conn: db.Connection,
    *,
    principal: Principal,
    params: CollectionCaseCreate,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Insert a case, verified in the same transaction, and write its events."""
    debtor = debtor_document(params.debtor)
    verification = await verify(conn, debtor=debtor, amount=params.amount_to_recover)
    partner = verification.partner
    values = {
        "status": verification.status,
        "amount": params.amount_to_recover,
        "currency": params.currency,
        "debtor": Jsonb(debtor),
        "debtor_type": debtor["type"],
        "debtor_country": debtor["country"],
        "partner_id": partner["id"] if partner else None,
        "partner": Jsonb({k: partner[k] for k in PARTNER_KEYS}) if partner else None,
        "requirements": Jsonb(verification.requirements),
        "creditor_reference": params.creditor_reference,
        "due_date": params.due_date,
        "metadata": Jsonb({k: v for k, v in (params.metadata or {}).items() if v != ""}),
        "fee_pct": (
            pricing.price(partner["base_success_fee_pct"], params.due_date).total_success_fee_pct
            if partner
            else None
        ),
    }
    row = None
    for _ in range(REFERENCE_ATTEMPTS):
        # A taken reference makes the insert a no-op (no error, no aborted transaction): retry.
        row = await db.fetch_one(
            conn,
            _INSERT,
            {**values, "id": ids.new_uuid7(), "reference": ids.new_reference()},
            scope=principal.scope,
        )
        if row is not None:
            break
    if row is None:
        raise RuntimeError("could not allocate a unique case reference")
    case = render(row)
    await events.record(conn, principal, "collection_case.created", case, request_id=request_id)
    if case["status"] in ("active", "needs_details"):
        await events.record(
            conn, principal, f"collection_case.{case['status']}", case, request_id=request_id
        )
    return case


async def get_case(conn: db.Connection, *, principal: Principal, case_id: str) -> dict[str, Any]:
    uid = ids.decode("dc", case_id)
    row = uid and await db.fetch_one(conn, _BY_ID, {"id": uid}, scope=principal.scope)
    if not row:
        raise not_found("collection_case", case_id)
    return render(row)


async def success_fee_pct(
    conn: db.Connection, *, principal: Principal, case_id: str
) -> Decimal | None:
    """The success fee the case's partner takes, in percent (None until a partner has it):
    kept on the case, not part of the API object."""
    uid = ids.decode("dc", case_id)
    if uid is None:
        raise not_found("collection_case", case_id)
    row = await db.fetch_one(
        conn,
        "SELECT success_fee_pct FROM collection_cases WHERE id = %(id)s AND {scope}",
        {"id": uid},
        scope=principal.scope,
    )
    if row is None:
        raise not_found("collection_case", case_id)
    fee: Decimal | None = row["success_fee_pct"]
    return fee


async def get_case_by_reference(
    conn: db.Connection, *, principal: Principal, reference: str
) -> dict[str, Any]:
    row = None
    if ids.REFERENCE_RE.fullmatch(reference):
        row = await db.fetch_one(
            conn, _BY_REFERENCE, {"reference": reference.upper()}, scope=principal.scope
        )
    if not row:
        raise not_found("collection_case", reference, param="reference")
    return render(row)


async def list_cases(
    conn: db.Connection,
    *,
    principal: Principal,
    params: ListParams,
    status: str | None = None,
    debtor_country: str | None = None,
    debtor_type: str | None = None,
    search: str | None = None,
) -> Page:
    """A page of cases, newest first. `search` (the dashboard's) finds a case by its reference
    (case-insensitive) or by creditor reference (exact, case-insensitive)."""
    # Each filter matches an index that starts (account_id, is_test, <filter>, created_at, id).
    filters: dict[str, Any] = {
        "status": status,
        "debtor_country": debtor_country,
        "debtor_type": debtor_type,
    }
    where = [f"{column} = %({column})s" for column, value in filters.items() if value is not None]
    if search is not None:
        # ix_collection_cases_creditor_reference, and the reference's unique index.
        matches = ["lower(creditor_reference) = lower(%(search)s)"]
        if ids.REFERENCE_RE.fullmatch(search):
            matches.append("reference = %(search_reference)s")
            filters["search_reference"] = search.upper()
        where.append(f"({' OR '.join(matches)})")
        filters["search"] = search
    return await paginate(conn, LISTING, params, scope=principal.scope, where=where, args=filters)


_TOTALS = """
    SELECT status, currency, sum(cases)::bigint AS cases,
           sum(amount_to_recover)::bigint AS amount_to_recover, sum(remainder)::bigint AS remainder
    FROM case_totals WHERE {scope}
    GROUP BY status, currency HAVING sum(cases) <> 0
    ORDER BY status, currency
"""


async def case_totals(conn: db.Connection, *, principal: Principal) -> list[db.Row]:
    """Cases, amounts and remainders per status and currency, from the totals the database
    keeps (triggers on collection_cases): a few rows read, whatever the number of cases."""
    return await db.fetch_all(conn, _TOTALS, scope=principal.scope)
