"""HTTP routes of the collection_case resource (the documented core API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
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
    CREATE_EXAMPLE,
    CaseStatus,
    CloseParams,
    CollectionCase,
    CollectionCaseCreate,
    CollectionCaseList,
    CollectionCaseUpdate,
    DebtorType,
    NoParams,
)
from collection_cases.errors import ValidationFailed
from collection_cases.openapi_docs import error_responses
from collection_cases.pagination import ListParams, list_params
from collection_cases.validation import country_code

router = APIRouter(prefix="/v1/collection_cases", tags=["Collection Cases"])


@router.post(
    "",
    status_code=201,
    response_model=CollectionCase,
    operation_id="create_collection_case",
    summary="Create a collection case",
    openapi_extra=json_request(CollectionCaseCreate, example=CREATE_EXAMPLE),
    responses=error_responses(400, 403, 413, 415, 422),
)
async def create_collection_case(request: Request, access: CasesWrite) -> Response:
    params = await parse_json(request, CollectionCaseCreate)
    case = await cases.create_case(
        access.conn,
        principal=access.principal,
        params=params,
        request_id=request.state.request_id,
    )
    return await access.respond(case, status_code=201)


@router.get(
    "",
    response_model=CollectionCaseList,
    summary="List collection cases",
    responses=error_responses(400, 403, 422),
)
async def list_collection_cases(
    access: CasesRead,
    page: Annotated[ListParams, Depends(list_params)],
    status: Annotated[CaseStatus | None, Query()] = None,
    debtor_country: Annotated[str | None, Query(max_length=10)] = None,
    debtor_type: Annotated[DebtorType | None, Query()] = None,
) -> Response:
    if debtor_country is not None:
        try:
            debtor_country = country_code(debtor_country)
        except ValueError as exc:
            raise ValidationFailed(
                f"Invalid debtor_country: {exc}.", param="debtor_country"
            ) from None
    page_ = await cases.list_cases(
        access.conn,
        principal=access.principal,
        params=page,
        status=status,
        debtor_country=debtor_country,
        debtor_type=debtor_type,
    )
    return json_response(page_.envelope(cases.render, url=router.prefix))


@router.get(
    "/ref/{reference}",
    response_model=CollectionCase,
    summary="Retrieve a collection case by its reference (case-insensitive)",
    responses=error_responses(403, 404),
)
async def retrieve_collection_case_by_reference(
    reference: Annotated[str, Path(description="8 characters, e.g. Q8OAXF3W")],
    access: CasesRead,
) -> Response:
    case = await cases.get_case_by_reference(
        access.conn, principal=access.principal, reference=reference
    )
    return json_response(case)


@router.get(
    "/{case_id}",
    response_model=CollectionCase,
    summary="Retrieve a collection case",
    responses=error_responses(403, 404),
)
async def retrieve_collection_case(
    case_id: Annotated[str, Path(description="dc_...")], access: CasesRead
) -> Response:
    case = await cases.get_case(access.conn, principal=access.principal, case_id=case_id)
    return json_response(case)


# Lifecycle (creditor side) -----------------------------------------------------------------


@router.post(
    "/{case_id}",
    response_model=CollectionCase,
    summary="Update a collection case",
    openapi_extra=json_request(CollectionCaseUpdate),
    responses=error_responses(400, 403, 404, 413, 415, 422),
)
async def update_collection_case(
    request: Request, case_id: Annotated[str, Path(description="dc_...")], access: CasesWrite
) -> Response:
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
    summary="Pause an active case",
    responses=error_responses(400, 403, 404),
)
async def pause_collection_case(
    request: Request, case_id: Annotated[str, Path()], access: CasesWrite
) -> Response:
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
    summary="Resume a paused case",
    responses=error_responses(400, 403, 404),
)
async def resume_collection_case(
    request: Request, case_id: Annotated[str, Path()], access: CasesWrite
) -> Response:
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
    summary="Close (withdraw) a case",
    openapi_extra=json_request(CloseParams, required=False),
    responses=error_responses(400, 403, 404, 422),
)
async def close_collection_case(
    request: Request, case_id: Annotated[str, Path()], access: CasesWrite
) -> Response:
    params = await parse_optional_json(request, CloseParams)
    case = await lifecycle.close(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        close_code=params.close_code,
        request_id=request.state.request_id,
    )
    return await access.respond(case)
