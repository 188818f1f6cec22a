"""HTTP routes of debt payments (read-only for creditors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from collection_cases.accounts.dependencies import DebtPaymentsRead
from collection_cases.body import json_response
from collection_cases.openapi_docs import CASE_ID, PAYMENT_ID, error_responses, not_found
from collection_cases.pagination import ListObject, ListParams, list_params
from collection_cases.payments import service as payments
from collection_cases.payments.schemas import DebtPayment

router = APIRouter(prefix="/v1/debt_payments", tags=["Debt Payments"])


@router.get(
    "",
    response_model=ListObject[DebtPayment],
    operation_id="list_debt_payments",
    summary="List debt payments",
    responses=error_responses(
        400,
        403,
        422,
        examples={400: [not_found("collection_case", "dc_0", param="case")]},
    ),
)
async def list_debt_payments(
    access: DebtPaymentsRead,
    page: Annotated[ListParams, Depends(list_params)],
    case: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Only the payments of this case (`dc_...`).",
            examples=[CASE_ID],
        ),
    ] = None,
) -> Response:
    """Payments collected on your cases, newest first: all of them, or one case's (`case`),
    in a `created[...]` range. Use it to reconcile: each shows the fee kept and the net
    amount paid out to you. Reads only; partners record payments (in test mode, the
    `record_payment` test helper plays the partner).
    """
    found = await payments.list_payments(
        access.conn, principal=access.principal, params=page, case_id=case
    )
    return json_response(found.envelope(payments.render, url=router.prefix))


@router.get(
    "/{payment_id}",
    response_model=DebtPayment,
    operation_id="retrieve_debt_payment",
    summary="Retrieve a debt payment",
    responses=error_responses(403, 404),
)
async def retrieve_debt_payment(
    payment_id: Annotated[
        str, Path(description="The payment's id (`dp_...`).", examples=[PAYMENT_ID])
    ],
    access: DebtPaymentsRead,
) -> Response:
    """One payment: amount, type, date, fee and net amount, and the payout it went into."""
    payment = await payments.get_payment(
        access.conn, principal=access.principal, payment_id=payment_id
    )
    return json_response(payment)
