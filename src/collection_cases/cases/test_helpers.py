"""Test helpers: the partner's side of a case, for test-mode keys (live keys get a 404).

The same service functions back the `collection-cases cases ...` operator commands in live mode.
Changes made here are the partner's, not an API request of the creditor's: their events carry
no `request` id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import Field, StrictInt
from starlette.responses import Response

from collection_cases.accounts.dependencies import TestHelperAccess
from collection_cases.body import json_request, parse_json, parse_optional_json
from collection_cases.cases import lifecycle
from collection_cases.cases.schemas import CollectionCase, NoParams
from collection_cases.cases.verification import REQUIRES_CONTACT_PERSON
from collection_cases.chat import service as chat
from collection_cases.chat.schemas import ChatMessage, PartnerMessageParams
from collection_cases.openapi_docs import error_responses
from collection_cases.payments import service as payments
from collection_cases.payments.schemas import DebtPayment
from collection_cases.validation import DueDate, StrictModel

router = APIRouter(prefix="/v1/test_helpers/collection_cases", tags=["Test helpers"])
Requirement = Literal["debtor.email_or_phone", "debtor.contact_person"]


class RequestDetailsParams(StrictModel):
    requirements: list[Requirement] = Field(default=["debtor.email_or_phone"], min_length=1)


class RecordPaymentParams(StrictModel):
    amount: StrictInt = Field(ge=1, le=999_999_999_999)
    type: Literal["partial_payment", "installment"] = "partial_payment"
    payment_date: DueDate | None = Field(default=None, description="YYYY-MM-DD, default today")


class PartnerCloseParams(StrictModel):
    close_code: Literal[lifecycle.PARTNER_CLOSE_CODES]  # type: ignore[valid-type]


CaseId = Annotated[str, Path(description="dc_...")]


@router.post(
    "/{case_id}/verify",
    response_model=CollectionCase,
    summary="Run verification (partner assignment) now",
    responses=error_responses(400, 403, 404),
)
async def helper_verify(request: Request, case_id: CaseId, access: TestHelperAccess) -> Response:
    await parse_optional_json(request, NoParams)
    case = await lifecycle.verify_case(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        strict=True,
    )
    return await access.respond(case)


@router.post(
    "/{case_id}/request_details",
    response_model=CollectionCase,
    summary="The partner asks the creditor for missing details",
    openapi_extra=json_request(RequestDetailsParams, required=False),
    responses=error_responses(400, 403, 404, 422),
)
async def helper_request_details(
    request: Request, case_id: CaseId, access: TestHelperAccess
) -> Response:
    params = await parse_optional_json(request, RequestDetailsParams)
    case = await lifecycle.request_details(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        requirements=list(dict.fromkeys(params.requirements)),
    )
    return await access.respond(case)


@router.post(
    "/{case_id}/record_payment",
    response_model=DebtPayment,
    status_code=201,
    summary="The partner records a debt payment",
    openapi_extra=json_request(RecordPaymentParams),
    responses=error_responses(400, 403, 404, 422),
)
async def helper_record_payment(
    request: Request, case_id: CaseId, access: TestHelperAccess
) -> Response:
    params = await parse_json(request, RecordPaymentParams)
    payment = await payments.record_payment(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        amount=params.amount,
        payment_type=params.type,
        payment_date=params.payment_date or datetime.now(UTC).date(),
    )
    return await access.respond(payment, status_code=201)


@router.post(
    "/{case_id}/close",
    response_model=CollectionCase,
    summary="The partner closes the case",
    openapi_extra=json_request(PartnerCloseParams),
    responses=error_responses(400, 403, 404, 422),
)
async def helper_close(request: Request, case_id: CaseId, access: TestHelperAccess) -> Response:
    params = await parse_json(request, PartnerCloseParams)
    case = await lifecycle.close(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        close_code=params.close_code,
    )
    return await access.respond(case)


@router.post(
    "/{case_id}/send_partner_message",
    response_model=ChatMessage,
    status_code=201,
    summary="The partner writes to the creditor",
    openapi_extra=json_request(PartnerMessageParams),
    responses=error_responses(400, 403, 404, 422),
)
async def helper_send_partner_message(
    request: Request, case_id: CaseId, access: TestHelperAccess
) -> Response:
    params = await parse_json(request, PartnerMessageParams)
    message = await chat.send_message(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        sender="partner",
        message=params.message,
        attachments=params.attachments,
    )
    return await access.respond(message, status_code=201)


__all__ = ["REQUIRES_CONTACT_PERSON", "router"]
