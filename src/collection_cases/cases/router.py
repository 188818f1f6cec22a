"""HTTP routes of the collection_case resource (the documented core API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.responses import Response

from collection_cases.accounts.dependencies import CasesRead, CasesWrite
from collection_cases.body import (
    json_request,
    json_response,
    parse_json,
    parse_optional_json,
)
from collection_cases.cases import lifecycle
from collection_cases.cases import service as cases
from collection_cases.cases.schemas import (
    CLOSE_EXAMPLE,
    CREATE_EXAMPLE,
    UPDATE_EXAMPLE,
    CaseStatus,
    CloseParams,
    CollectionCase,
    CollectionCaseCreate,
    CollectionCaseList,
    CollectionCaseUpdate,
    DebtorType,
    NoParams,
)
from collection_cases.openapi_docs import (
    CASE_ID,
    breaks_rule,
    error_responses,
    missing,
    not_found,
    state_invalid,
    unknown,
    wrong_type,
)
from collection_cases.pagination import ListParams, list_params
from collection_cases.query import QueryModel, QueryModels
from collection_cases.validation import country_code

router = APIRouter(prefix="/v1/collection_cases", tags=["Collection Cases"])
CaseId = Annotated[str, Path(description="The case's id (`dc_...`).", examples=[CASE_ID])]


@router.post(
    "",
    status_code=201,
    response_model=CollectionCase,
    operation_id="create_collection_case",
    summary="Create a collection case",
    openapi_extra=json_request(CollectionCaseCreate, example=CREATE_EXAMPLE),
    responses=error_responses(
        400,
        403,
        413,
        415,
        422,
        examples={
            400: [
                missing("debtor.address.city"),
                unknown("debtor.nmae"),
                wrong_type("amount_to_recover", "Input should be a valid integer"),
            ],
            422: [
                breaks_rule("currency", "'EUX' is not an ISO 4217 currency code"),
                breaks_rule(
                    "due_date",
                    "must not be in the future (a debt not yet due cannot be collected)",
                    name="due_date_in_future",
                ),
            ],
        },
    ),
)
async def create_collection_case(request: Request, access: CasesWrite) -> Response:
    """Submit a debt for collection. The server verifies the case in the same request: it
    picks the partner with the best success rate for the debtor's country, type and amount,
    and prices the case (the fee it keeps for its whole life).

    The answer (201) is the full case, exactly what retrieve returns, with `status`:
    - `active`: a partner took it (`collection_partner` names it);
    - `needs_details`: the debtor has neither e-mail nor phone, or a company debtor has no
      `contact_person` (`requirements` lists what to add with an update);
    - `pending_verification`: no partner covers this country, debtor type and amount yet.

    Writes the events `collection_case.created` and `collection_case.active` or
    `.needs_details`. Use a preview first to learn the outcome and price without creating
    anything. Unknown fields are refused (400 `parameter_unknown`), never ignored; a value
    that breaks a rule (an unknown currency, a due date in the future) is a 422.
    """
    params = await parse_json(request, CollectionCaseCreate)
    case = await cases.create_case(
        access.conn,
        principal=access.principal,
        params=params,
        request_id=request.state.request_id,
    )
    return await access.respond(case, status_code=201)


class CaseFilters(BaseModel):
    """The list's own filters (read with the page parameters' one validation, see
    `query.QueryModel`)."""

    model_config = ConfigDict(extra="ignore")

    status: Annotated[
        CaseStatus | None, Field(description="Only cases with this status.", examples=["active"])
    ] = None
    debtor_country: Annotated[
        # The length first (as for any string), then the code: `validation.country_code`.
        Annotated[str, Field(max_length=10), AfterValidator(country_code)] | None,
        Field(
            description="Only cases collected in this country (ISO 3166-1 alpha-2, any case).",
            examples=["DE"],
        ),
    ] = None
    debtor_type: Annotated[
        DebtorType | None,
        Field(description="Only cases whose debtor is of this type.", examples=["private"]),
    ] = None


case_filters: QueryModel[CaseFilters] = QueryModel(CaseFilters, lambda filters: filters)
# The filters, then the page parameters: one dependency (see `query.QueryModels`).
CaseListQuery = Annotated[
    tuple[CaseFilters, ListParams], Depends(QueryModels(case_filters, list_params))
]


@router.get(
    "",
    response_model=CollectionCaseList,
    operation_id="list_collection_cases",
    summary="List collection cases",
    responses=error_responses(
        400,
        403,
        422,
        examples={
            400: [not_found("collection_case", "dc_0", param="starting_after")],
            422: [
                breaks_rule("debtor_country", "'XX' is not an ISO 3166-1 alpha-2 country code"),
            ],
        },
    ),
)
async def list_collection_cases(access: CasesRead, query: CaseListQuery) -> Response:
    """Your cases in this key's mode, newest first, a page at a time (`limit`, then
    `starting_after` the last id of a page). Filter by `status`, `debtor_country`,
    `debtor_type` and the `created[...]` range; filters combine. Reads only.
    """
    filters, page = query
    page_ = await cases.list_cases(
        access.conn,
        principal=access.principal,
        params=page,
        status=filters.status,
        debtor_country=filters.debtor_country,
        debtor_type=filters.debtor_type,
    )
    return json_response(page_.envelope(cases.render, url=router.prefix))


@router.get(
    "/ref/{reference}",
    response_model=CollectionCase,
    operation_id="retrieve_collection_case_by_reference",
    summary="Retrieve a collection case by its reference (case-insensitive)",
    responses=error_responses(403, 404),
)
async def retrieve_collection_case_by_reference(
    reference: Annotated[
        str,
        Path(
            description="The case's 8-character reference, in any case.",
            examples=["Q8OAXF3W"],
        ),
    ],
    access: CasesRead,
) -> Response:
    """The case whose `reference` this is: the short code people quote on the phone or in a
    letter (`q8oaxf3w` finds `Q8OAXF3W`). Same object as retrieve by id; reads only.
    """
    case = await cases.get_case_by_reference(
        access.conn, principal=access.principal, reference=reference
    )
    return json_response(case)


@router.get(
    "/{case_id}",
    response_model=CollectionCase,
    operation_id="retrieve_collection_case",
    summary="Retrieve a collection case",
    responses=error_responses(403, 404),
)
async def retrieve_collection_case(case_id: CaseId, access: CasesRead) -> Response:
    """The case as it stands now: status, remainder, partner, requirements. A case of another
    account, or of the other mode (test vs live), answers 404 like one that does not exist.
    """
    case = await cases.get_case(access.conn, principal=access.principal, case_id=case_id)
    return json_response(case)


# Lifecycle (creditor side) -----------------------------------------------------------------


@router.post(
    "/{case_id}",
    response_model=CollectionCase,
    operation_id="update_collection_case",
    summary="Update a collection case",
    openapi_extra=json_request(CollectionCaseUpdate, example=UPDATE_EXAMPLE),
    responses=error_responses(
        400,
        403,
        404,
        413,
        415,
        422,
        examples={
            400: [
                unknown("amount_to_recover"),
                state_invalid("Cannot update a collection_case whose status is 'closed'.", None),
            ],
            422: [
                breaks_rule(
                    "debtor.email",
                    "not a valid e-mail address (An email address must have an @-sign.)",
                )
            ],
        },
    ),
)
async def update_collection_case(request: Request, case_id: CaseId, access: CasesWrite) -> Response:
    """Change what may change while a case is open: `metadata` (merged: `""` removes a key),
    `creditor_reference`, and the debtor's `email`, `phone` and `contact_person`. The amount,
    currency, debtor identity and due date are fixed once submitted.

    On a `needs_details` case, supplying what `requirements` lists runs verification again
    (the case may become `active`). Writes `collection_case.updated` when something changed.
    A closed case cannot change (400 `state_invalid`).
    """
    params = await parse_json(request, CollectionCaseUpdate)
    debtor = params.debtor.model_dump(exclude_unset=True) if params.debtor else None
    case = await lifecycle.update_case(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        metadata=params.metadata,
        creditor_reference=params.creditor_reference,
        debtor=debtor,
        fields_set=params.model_fields_set,
        request_id=request.state.request_id,
    )
    return await access.respond(case)


@router.post(
    "/{case_id}/pause",
    response_model=CollectionCase,
    operation_id="pause_collection_case",
    summary="Pause an active case",
    responses=error_responses(
        400,
        403,
        404,
        examples={400: [state_invalid("Cannot pause a collection_case whose status is 'paused'.")]},
    ),
)
async def pause_collection_case(request: Request, case_id: CaseId, access: CasesWrite) -> Response:
    """Ask the partner to stop working an `active` case for now (the debtor came to you, a
    dispute needs checking...). The case becomes `paused` until you resume it; writes
    `collection_case.paused`. Takes no parameters. Any other status: 400 `state_invalid`.
    """
    await parse_optional_json(request, NoParams)
    case = await lifecycle.pause(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        request_id=request.state.request_id,
    )
    return await access.respond(case)


@router.post(
    "/{case_id}/resume",
    response_model=CollectionCase,
    operation_id="resume_collection_case",
    summary="Resume a paused case",
    responses=error_responses(
        400,
        403,
        404,
        examples={
            400: [state_invalid("Cannot resume a collection_case whose status is 'active'.")]
        },
    ),
)
async def resume_collection_case(request: Request, case_id: CaseId, access: CasesWrite) -> Response:
    """Hand a `paused` case back to its partner: it becomes `active` again and writes
    `collection_case.active`. Takes no parameters. Any other status: 400 `state_invalid`.
    """
    await parse_optional_json(request, NoParams)
    case = await lifecycle.resume(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        request_id=request.state.request_id,
    )
    return await access.respond(case)


@router.post(
    "/{case_id}/close",
    response_model=CollectionCase,
    operation_id="close_collection_case",
    summary="Close (withdraw) a case",
    openapi_extra=json_request(CloseParams, required=False, example=CLOSE_EXAMPLE),
    responses=error_responses(
        400,
        403,
        404,
        422,
        examples={
            400: [state_invalid("Cannot close a collection_case whose status is 'closed'.", None)],
            422: [breaks_rule("close_code", "Input should be 'withdrawn'")],
        },
    ),
)
async def close_collection_case(request: Request, case_id: CaseId, access: CasesWrite) -> Response:
    """Withdraw an open case: collection stops, the case becomes `closed` with `close_code`
    `withdrawn`, and `collection_case.closed` is written. The body is optional. Closing is
    final: no change is accepted afterwards (400 `state_invalid`), payments included.
    """
    params = await parse_optional_json(request, CloseParams)
    case = await lifecycle.close(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        close_code=params.close_code,
        request_id=request.state.request_id,
    )
    return await access.respond(case)
