"""HTTP routes of debt payments (read-only for creditors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from collection_cases.accounts.dependencies import DebtPaymentsRead
from collection_cases.body import json_response
from collection_cases.openapi_docs import error_responses
from collection_cases.pagination import ListObject, ListParams, list_params
from collection_cases.payments import service as payments
from collection_cases.payments.schemas import DebtPayment

router = APIRouter(prefix="/v1/debt_payments", tags=["Debt Payments"])


@router.get(
    "",
    response_model=ListObject[DebtPayment],
    summary="List debt payments",
    responses=error_responses(400, 403, 422),
)
async def list_debt_payments(
    access: DebtPaymentsRead,
    page: Annotated[ListParams, Depends(list_params)],
    case: Annotated[str | None, Query(max_length=100, description="dc_...")] = None,
) -> Response:
    found = await payments.list_payments(
        access.conn, principal=access.principal, params=page, case_id=case
    )
    return json_response(found.envelope(payments.render, url=router.prefix))


@router.get(
    "/{payment_id}",
    response_model=DebtPayment,
    summary="Retrieve a debt payment",
    responses=error_responses(403, 404),
)
async def retrieve_debt_payment(
    payment_id: Annotated[str, Path(description="dp_...")], access: DebtPaymentsRead
) -> Response:
    payment = await payments.get_payment(
        access.conn, principal=access.principal, payment_id=payment_id
    )
    return json_response(payment)
