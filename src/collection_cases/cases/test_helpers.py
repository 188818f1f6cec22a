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
from collection_cases.chat.schemas import (
    PARTNER_MESSAGE_EXAMPLE,
    ChatMessage,
    PartnerMessageParams,
)
from collection_cases.openapi_docs import (
    CASE_ID,
    breaks_rule,
    error_responses,
    example,
    missing,
    state_invalid,
)
from collection_cases.payments import service as payments
from collection_cases.payments.schemas import DebtPayment
from collection_cases.validation import DueDate, StrictModel

router = APIRouter(prefix="/v1/test_helpers/collection_cases", tags=["Test helpers"])
Requirement = Literal["debtor.email_or_phone", "debtor.contact_person"]


class RequestDetailsParams(StrictModel):
    """Body of the request_details test helper (optional)."""

    requirements: list[Requirement] = Field(
        default=["debtor.email_or_phone"],
        min_length=1,
        description="What the partner asks for: `debtor.email_or_phone`, "
        "`debtor.contact_person` (default: the first).",
        examples=[["debtor.email_or_phone"]],
    )


class RecordPaymentParams(StrictModel):
    """Body of the record_payment test helper."""

    amount: StrictInt = Field(
        ge=1,
        le=999_999_999_999,
        description="What the debtor paid, in the currency's smallest unit; at most the case's "
        "`remainder`.",
        examples=[120000],
    )
    type: Literal["partial_payment", "installment"] = Field(
        default="partial_payment",
        description="`partial_payment` (default) or `installment`. A payment that clears the "
        "remainder is recorded as `full_payment` whatever is sent.",
        examples=["installment"],
    )
    payment_date: DueDate | None = Field(
        default=None,
        description="When the debtor paid, `YYYY-MM-DD`, not in the future (default: today).",
        examples=["2024-12-02"],
    )


class PartnerCloseParams(StrictModel):
    """Body of the close test helper."""

    close_code: Literal[lifecycle.PARTNER_CLOSE_CODES] = Field(  # type: ignore[valid-type]
        description="How the partner's work ended: `paid`, `partially_paid`, `settled`, "
        "`uncollectible`, `debtor_insolvent`, `debtor_untraceable`, `disputed` or "
        "`statute_barred`.",
        examples=["settled"],
    )


CaseId = Annotated[str, Path(description="The case's id (`dc_...`).", examples=[CASE_ID])]
# The debt-payments page's sample payment: an installment of 1,200.00 on the 3,600.00 case.
RECORD_PAYMENT_EXAMPLE = {"amount": 120000, "type": "installment"}
REQUEST_DETAILS_EXAMPLE = {"requirements": ["debtor.email_or_phone"]}
PARTNER_CLOSE_EXAMPLE = {"close_code": "settled"}
NOT_OPEN = "Cannot {} a collection_case whose status is 'closed'."


@router.post(
    "/{case_id}/verify",
    response_model=CollectionCase,
    operation_id="test_helpers_verify_collection_case",
    summary="Run verification (partner assignment) now",
    responses=error_responses(
        400,
        403,
        404,
        examples={
            400: [state_invalid("Cannot verify a collection_case whose status is 'paused'.")]
        },
    ),
)
async def helper_verify(request: Request, case_id: CaseId, access: TestHelperAccess) -> Response:
    """Run verification again on a `pending_verification` or `needs_details` case, as the
    platform does when partners or details change: it becomes `active` with a partner, or
    stays put with its `requirements`. An `active` case is returned as it is; a paused or
    closed one is 400 `state_invalid`. Takes no parameters.
    """
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
    operation_id="test_helpers_request_case_details",
    summary="The partner asks the creditor for missing details",
    openapi_extra=json_request(
        RequestDetailsParams, required=False, example=REQUEST_DETAILS_EXAMPLE
    ),
    responses=error_responses(
        400,
        403,
        404,
        422,
        examples={
            400: [state_invalid(NOT_OPEN.format("request details"), None)],
            422: [
                breaks_rule(
                    "requirements.0",
                    "Input should be 'debtor.email_or_phone' or 'debtor.contact_person'",
                )
            ],
        },
    ),
)
async def helper_request_details(
    request: Request, case_id: CaseId, access: TestHelperAccess
) -> Response:
    """Play the partner who cannot go on without more details: the case (pending, needing
    details or active) becomes `needs_details` with these `requirements`, and writes
    `collection_case.needs_details`. Supply them with an update to continue.
    """
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
    operation_id="test_helpers_record_debt_payment",
    summary="The partner records a debt payment",
    openapi_extra=json_request(RecordPaymentParams, example=RECORD_PAYMENT_EXAMPLE),
    responses=error_responses(
        400,
        403,
        404,
        422,
        examples={
            400: [
                missing("amount"),
                example(
                    "parameter_invalid",
                    "The payment (480000) exceeds the case's remainder (360000).",
                    "amount",
                ),
                state_invalid(NOT_OPEN.format("record payment"), None),
            ],
            422: [breaks_rule("amount", "Input should be greater than or equal to 1")],
        },
    ),
)
async def helper_record_payment(
    request: Request, case_id: CaseId, access: TestHelperAccess
) -> Response:
    """Play the partner collecting money: a `debt_payment` (201) with the fee at the case's
    rate, and the case's `remainder` goes down. The payment that clears the remainder is a
    `full_payment` and closes the case as `paid`. Writes `debt_payment.created` and
    `collection_case.updated`. More than the remainder: 400.
    """
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
    operation_id="test_helpers_close_collection_case",
    summary="The partner closes the case",
    openapi_extra=json_request(PartnerCloseParams, example=PARTNER_CLOSE_EXAMPLE),
    responses=error_responses(
        400,
        403,
        404,
        422,
        examples={
            400: [missing("close_code"), state_invalid(NOT_OPEN.format("close"), None)],
            422: [
                breaks_rule(
                    "close_code",
                    "Input should be 'paid', 'partially_paid', 'settled', 'uncollectible', "
                    "'debtor_insolvent', 'debtor_untraceable', 'disputed' or 'statute_barred'",
                )
            ],
        },
    ),
)
async def helper_close(request: Request, case_id: CaseId, access: TestHelperAccess) -> Response:
    """Play the partner ending its work on an open case with one of its close codes
    (`settled`, `uncollectible`, ...): the case becomes `closed` for good and
    `collection_case.closed` is written.
    """
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
    operation_id="test_helpers_send_partner_message",
    summary="The partner writes to the creditor",
    openapi_extra=json_request(PartnerMessageParams, example=PARTNER_MESSAGE_EXAMPLE),
    responses=error_responses(
        400,
        403,
        404,
        422,
        examples={
            400: [missing("message"), state_invalid(NOT_OPEN.format("message"), None)],
            422: [breaks_rule("message", "String should have at least 1 character")],
        },
    ),
)
async def helper_send_partner_message(
    request: Request, case_id: CaseId, access: TestHelperAccess
) -> Response:
    """Play the partner writing in the case's chat: a `chat_message` with `sender: partner`,
    unread until you list the chat, and the event `case_chat.created` (what a webhook would
    tell you).
    """
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
