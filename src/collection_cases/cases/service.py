"""Collection cases: create, retrieve, list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from collection_cases import ids
from collection_cases.accounts.service import Principal
from collection_cases.cases.models import CollectionCase
from collection_cases.cases.schemas import CollectionCaseCreate, unix_date
from collection_cases.cases.verification import verify
from collection_cases.db import scoped
from collection_cases.errors import InvalidRequestError, not_found, printable
from collection_cases.events import service as events
from collection_cases.pagination import ListParams, apply_created, fetch_page

REFERENCE_ATTEMPTS = 10
_table = CollectionCase.__table__
# Everything the object shows; account_id never leaves the database.
_columns = [
    c
    for c in _table.c
    if c.name
    not in ("account_id", "updated_at", "debtor_type", "debtor_country", "collection_partner_id")
]


_DEBTOR_KEYS = ("type", "name", "contact_person", "email", "phone", "address", "country")
_ADDRESS_KEYS = ("line1", "line2", "city", "state", "postal_code", "country")
_PARTNER_KEYS = ("id", "name", "email", "phone", "site")


def _ordered(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    # jsonb stores keys in its own order; show them in the documented one.
    return {k: doc.get(k) for k in keys}


def render(row: Row[Any] | dict[str, Any]) -> dict[str, Any]:
    m = row._mapping if isinstance(row, Row) else row
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
        "collection_partner": _ordered(partner, _PARTNER_KEYS) if partner else None,
        "requirements": m["requirements"],
        "creditor_reference": m["creditor_reference"],
        "due_date": unix_date(m["due_date"]),
        "is_test": m["is_test"],
        "metadata": m["metadata"],
        "created": int(m["created_at"].timestamp()),
    }


def _debtor_document(params: CollectionCaseCreate) -> dict[str, Any]:
    d = params.debtor
    a = d.address
    return {
        "type": d.type,
        "name": d.name,
        "contact_person": d.contact_person,
        "email": d.email,
        "phone": d.phone,
        "address": {
            "line1": a.line1,
            "line2": a.line2,
            "city": a.city,
            "state": a.state,
            "postal_code": a.postal_code,
            "country": a.country,
        },
        "country": d.country or a.country,
    }


async def create_case(
    conn: AsyncConnection,
    *,
    principal: Principal,
    params: CollectionCaseCreate,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Insert a case, verified in the same transaction, and write its events."""
    debtor = _debtor_document(params)
    verification = await verify(conn, debtor=debtor, amount=params.amount_to_recover)
    partner = verification.partner
    values = {
        "account_id": principal.account_id,
        "is_test": principal.is_test,
        "status": verification.status,
        "amount_to_recover": params.amount_to_recover,
        "remainder": params.amount_to_recover,
        "currency": params.currency,
        "debtor": debtor,
        "debtor_type": debtor["type"],
        "debtor_country": debtor["country"],
        "collection_partner_id": partner["id"] if partner else None,
        "collection_partner": ({k: partner[k] for k in _PARTNER_KEYS} if partner else None),
        "requirements": verification.requirements,
        "creditor_reference": params.creditor_reference,
        "due_date": params.due_date,
        "metadata": {k: v for k, v in (params.metadata or {}).items() if v != ""},
    }
    row = None
    for _ in range(REFERENCE_ATTEMPTS):
        # A taken reference makes the insert a no-op (no error, no aborted transaction): retry.
        stmt = (
            pg_insert(_table)
            .values(id=ids.new_uuid7(), reference=ids.new_reference(), **values)
            .on_conflict_do_nothing(index_elements=["reference"])
            .returning(*_columns)
        )
        row = (await conn.execute(stmt)).first()
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


async def get_case(conn: AsyncConnection, *, principal: Principal, case_id: str) -> dict[str, Any]:
    uid = ids.decode("dc", case_id)
    if uid is None:
        raise not_found("collection_case", case_id)
    stmt = scoped(select(*_columns).where(_table.c.id == uid), CollectionCase, principal)
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise not_found("collection_case", case_id)
    return render(row)


async def get_case_by_reference(
    conn: AsyncConnection, *, principal: Principal, reference: str
) -> dict[str, Any]:
    if not ids.REFERENCE_RE.fullmatch(reference):
        raise not_found("collection_case", reference, param="reference")
    stmt = scoped(
        select(*_columns).where(_table.c.reference == reference.upper()),
        CollectionCase,
        principal,
    )
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise not_found("collection_case", reference, param="reference")
    return render(row)


async def _cursor(
    conn: AsyncConnection, principal: Principal, case_id: str, param: str
) -> tuple[Any, Any]:
    uid = ids.decode("dc", case_id)
    row = None
    if uid is not None:
        stmt = scoped(
            select(_table.c.created_at, _table.c.id).where(_table.c.id == uid),
            CollectionCase,
            principal,
        )
        row = (await conn.execute(stmt)).first()
    if row is None:
        raise InvalidRequestError(
            f"No such collection_case: '{printable(case_id)}'",
            code="resource_not_found",
            param=param,
        )
    return row.created_at, row.id


async def list_cases(
    conn: AsyncConnection,
    *,
    principal: Principal,
    params: ListParams,
    status: str | None = None,
    debtor_country: str | None = None,
    debtor_type: str | None = None,
) -> tuple[Sequence[Row[Any]], bool]:
    c = _table.c
    stmt = scoped(select(*_columns), CollectionCase, principal)
    if status is not None:
        stmt = stmt.where(c.status == status)
    if debtor_country is not None:
        stmt = stmt.where(c.debtor_country == debtor_country)
    if debtor_type is not None:
        stmt = stmt.where(c.debtor_type == debtor_type)
    stmt = apply_created(stmt, c.created_at, params)
    after = before = None
    if params.starting_after is not None:
        after = await _cursor(conn, principal, params.starting_after, "starting_after")
    if params.ending_before is not None:
        before = await _cursor(conn, principal, params.ending_before, "ending_before")
    return await fetch_page(
        conn, stmt, created=c.created_at, id_=c.id, limit=params.limit, after=after, before=before
    )
