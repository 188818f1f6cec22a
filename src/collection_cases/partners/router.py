"""Partners, coverage and previews: the registry as the API shows it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from collection_cases.accounts.dependencies import CoverageRead, PartnersRead, PreviewsRead
from collection_cases.body import json_request, json_response, parse_json
from collection_cases.cases.schemas import PreviewParams
from collection_cases.errors import ValidationFailed, not_found
from collection_cases.openapi_docs import error_responses
from collection_cases.pagination import ListObject, ListParams, list_object, page_params
from collection_cases.partners import previews
from collection_cases.partners import service as partners
from collection_cases.validation import country_code

router = APIRouter(tags=["Partners and coverage"])


class CollectionPartner(BaseModel):
    id: str
    object: Literal["collection_partner"]
    name: str
    email: str
    phone: str
    site: str
    countries: list[str]
    specializations: list[str]
    success_rate: float
    avg_resolution_days: int


class Coverage(BaseModel):
    object: Literal["collection_coverage"]
    country: str
    country_name: str
    debtor_types: list[str]
    available_partners: int
    min_amount: int | None
    max_amount: int | None
    currency: str
    avg_success_fee_pct: float | None
    status: Literal["available", "limited", "unavailable"]


class PartnerAssignment(BaseModel):
    partner_id: str
    partner_name: str
    partner_country: str


class RequiredAction(BaseModel):
    type: str
    message: str
    solution_url: str
    is_blocking: bool


class PricingPreview(BaseModel):
    base_success_fee_pct: float
    age_surcharge_pct: float
    total_success_fee_pct: float


class CollectionCasePreview(BaseModel):
    is_eligible: bool
    ineligibility_reason: str | None
    partner_assignment: PartnerAssignment | None
    required_actions: list[RequiredAction]
    pricing_preview: PricingPreview | None


def _country(value: str, param: str) -> str:
    try:
        return country_code(value)
    except ValueError as exc:
        raise ValidationFailed(f"Invalid {param}: {exc}.", param=param) from None


@router.get(
    "/v1/collection_partners",
    response_model=ListObject[CollectionPartner],
    summary="List collection partners",
    responses=error_responses(400, 422),
)
async def list_collection_partners(
    access: PartnersRead,
    page: Annotated[ListParams, Depends(page_params)],
    country: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    found = await partners.page_partners(
        access.conn, page, _country(country, "country") if country else None
    )
    return json_response(found.envelope(partners.render, url="/v1/collection_partners"))


@router.get(
    "/v1/collection_partners/{partner_id}",
    response_model=CollectionPartner,
    summary="Retrieve a collection partner",
    responses=error_responses(404),
)
async def retrieve_collection_partner(
    partner_id: Annotated[str, Path(description="cp_...")], access: PartnersRead
) -> Response:
    row = await partners.get_partner(access.conn, partner_id)
    if row is None:
        raise not_found("collection_partner", partner_id)
    return json_response(partners.render(row))


@router.get(
    "/v1/collection_coverage",
    response_model=ListObject[Coverage],
    summary="Coverage of every country the registry serves",
    responses=error_responses(400, 422),
)
async def list_coverage(
    access: CoverageRead, page: Annotated[ListParams, Depends(page_params)]
) -> Response:
    data, has_more = await partners.page_coverage(access.conn, page)
    return json_response(list_object(data, has_more=has_more, url="/v1/collection_coverage"))


@router.get(
    "/v1/collection_coverage/{country}",
    response_model=Coverage,
    summary="Coverage of one country",
    responses=error_responses(404),
)
async def retrieve_coverage(
    country: Annotated[str, Path(description="ISO 3166-1 alpha-2")], access: CoverageRead
) -> Response:
    try:
        code = country_code(country)
    except ValueError:
        raise not_found("country", country, param="country") from None
    rows = await partners.registry(access.conn, code)
    return json_response(partners.coverage_for(code, rows))


@router.post(
    "/v1/collection_case_previews",
    response_model=CollectionCasePreview,
    summary="Preview a case: eligibility, partner, actions, price (nothing stored)",
    openapi_extra=json_request(PreviewParams),
    responses=error_responses(400, 413, 415, 422),
)
async def preview_collection_case(request: Request, access: PreviewsRead) -> Response:
    params = await parse_json(request, PreviewParams)
    preview = await previews.preview(access.conn, params, base_url=str(request.base_url))
    return await access.respond(preview)
