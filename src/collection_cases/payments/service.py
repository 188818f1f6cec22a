"""Debt payments: recorded on the partner's side, read by creditors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from collection_cases import db, ids
from collection_cases.accounts.service import Principal
from collection_cases.cases import lifecycle
from collection_cases.cases.schemas import unix_date
from collection_cases.errors import InvalidRequestError, not_found, printable
from collection_cases.events import service as events
from collection_cases.pagination import Listing, ListParams, Page, id_parser, paginate
from collection_cases.partners.pricing import fee_amount

COLUMNS = (
    "id, case_id, amount, currency, type, payment_date, fee_amount, net_amount, payout, created_at"
)
SELECT = f"SELECT {COLUMNS} FROM debt_payments"
LISTING = Listing(
    source="debt_payments", columns=COLUMNS, kind="debt_payment", parse=id_parser("dp")
)
_INSERT = f"""
    INSERT INTO debt_payments (id, account_id, is_test, case_id, amount, currency, type,
        payment_date, fee_pct, fee_amount, net_amount, payout)
    VALUES (%(id)s, %(account_id)s, %(is_test)s, %(case_id)s, %(amount)s, %(currency)s,
        %(type)s, %(payment_date)s, %(fee_pct)s, %(fee_amount)s, %(net_amount)s, %(payout)s)
    RETURNING {COLUMNS}
"""
_INSERT_PAYOUT = """
    INSERT INTO payouts (id, account_id, is_test, debt_payment_id, amount, currency)
    VALUES (%(payout)s, %(account_id)s, %(is_test)s, %(id)s, %(net_amount)s, %(currency)s)
"""


def render(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m["id"],
        "object": "debt_payment",
        "case": ids.encode("dc", m["case_id"]),
        "amount": m["amount"],
        "currency": m["currency"],
        "type": m["type"],
        "payment_date": unix_date(m["payment_date"]),
        "payout": m["payout"],
        "fee_amount": m["fee_amount"],
        "net_amount": m["net_amount"],
        "created": int(m["created_at"].timestamp()),
    }


async def record_payment(
    conn: db.Connection,
    *,
    principal: Principal,
    case_id: str,
    amount: int,
    payment_type: str,
    payment_date: date,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Record a payment: remainder goes down under the case's row lock (never below zero);
    the payment that clears it makes a full_payment and closes the case as paid."""
    row = await lifecycle.lock_case(conn, principal, case_id, "record_payment")
    if amount > row["remainder"]:
        raise InvalidRequestError(
            f"The payment ({amount}) exceeds the case's remainder ({row['remainder']}).",
            param="amount",
        )
    remainder = row["remainder"] - amount
    fee_pct = row["success_fee_pct"] or Decimal(0)
    fee = fee_amount(amount, fee_pct)
    values = {
        "id": ids.random_id("dp"),
        "payout": ids.random_id("po"),
        "case_id": row["id"],
        "amount": amount,
        "currency": row["currency"],
        "type": "full_payment" if remainder == 0 else payment_type,
        "payment_date": payment_date,
        "fee_pct": fee_pct,
        "fee_amount": fee,
        "net_amount": amount - fee,
    }
    inserted = await db.fetch_one(conn, _INSERT, values, scope=principal.scope)
    assert inserted is not None
    # The net amount goes on to the creditor: its payout is recorded with the payment.
    await db.execute(conn, _INSERT_PAYOUT, values, scope=principal.scope)
    payment = render(inserted)
    await events.record(conn, principal, "debt_payment.created", payment, request_id=request_id)
    changes: dict[str, Any] = {"remainder": remainder}
    if remainder == 0:
        changes.update(status="closed", close_code="paid")
    updated = await lifecycle.save(conn, principal, row, changes)
    await lifecycle.emit_changes(conn, principal, row, updated, request_id)
    return payment


async def get_payment(
    conn: db.Connection, *, principal: Principal, payment_id: str
) -> dict[str, Any]:
    row = None
    if ids.looks_like("dp", payment_id):
        row = await db.fetch_one(
            conn,
            SELECT + " WHERE id = %(id)s AND {scope}",
            {"id": payment_id},
            scope=principal.scope,
        )
    if row is None:
        raise not_found("debt_payment", payment_id)
    return render(row)


async def list_payments(
    conn: db.Connection, *, principal: Principal, params: ListParams, case_id: str | None = None
) -> Page:
    where: list[str] = []
    args: dict[str, Any] = {}
    if case_id is not None:
        uid = ids.decode("dc", case_id)
        if uid is None:
            raise InvalidRequestError(
                f"No such collection_case: '{printable(case_id)}'",
                code="resource_not_found",
                param="case",
            )
        where.append("case_id = %(case_id)s")
        args["case_id"] = uid
    return await paginate(conn, LISTING, params, scope=principal.scope, where=where, args=args)


_BY_MONTH = """
    SELECT month, currency, sum(payments)::bigint AS payments, sum(amount)::bigint AS amount
    FROM payment_totals WHERE {scope} AND month >= %(since)s
    GROUP BY month, currency HAVING sum(payments) <> 0
    ORDER BY month, currency
"""


async def recovered_by_month(
    conn: db.Connection, *, principal: Principal, since: date
) -> list[db.Row]:
    """Payments per month (of their payment date) and currency from `since` on, from the
    totals the database keeps (triggers on debt_payments), not from the payments."""
    return await db.fetch_all(conn, _BY_MONTH, {"since": since}, scope=principal.scope)
