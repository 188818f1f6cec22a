"""Partners, coverage and previews: the registry as the API shows it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from collection_cases.accounts.dependencies import CoverageRead, PartnersRead, PreviewsRead
from collection_cases.body import json_request, json_response, parse_json
from collection_cases.cases.schemas import PREVIEW_EXAMPLE, PreviewParams
from collection_cases.errors import ValidationFailed, not_found
from collection_cases.openapi_docs import (
    PARTNER_ID,
    breaks_rule,
    error_responses,
    example,
    unknown,
)
from collection_cases.pagination import ListObject, ListParams, list_object, page_params
from collection_cases.partners import previews
from collection_cases.partners import service as partners
from collection_cases.validation import country_code

router = APIRouter(tags=["Partners and coverage"])


class CollectionPartner(BaseModel):
    """The collection_partner object: a licensed agency that works cases."""

    id: str = Field(description="The partner's id (`cp_...`).", examples=["cp_partner_de_01"])
    object: Literal["collection_partner"] = Field(description='Always "collection_partner".')
    name: str = Field(description="The partner's company name.", examples=["CollectMax GmbH"])
    email: str = Field(description="Contact e-mail for cases.", examples=["cases@collectmax.de"])
    phone: str = Field(description="Contact phone.", examples=["+49 30 1234567"])
    site: str = Field(description="The partner's website.", examples=["https://collectmax.de"])
    countries: list[str] = Field(
        description="ISO 3166-1 alpha-2 codes of the countries it collects in.",
        examples=[["DE", "AT", "CH"]],
    )
    specializations: list[str] = Field(
        description="The debtor types it takes: `private`, `company`.",
        examples=[["private", "company"]],
    )
    success_rate: float = Field(
        description="Share of its cases that recovered money, 0 to 1; verification prefers "
        "the highest.",
        examples=[0.73],
    )
    avg_resolution_days: int = Field(
        description="Average days from assignment to a closed case.", examples=[45]
    )


class Coverage(BaseModel):
    """The collection_coverage object: what can be collected in one country."""

    object: Literal["collection_coverage"] = Field(description='Always "collection_coverage".')
    country: str = Field(description="ISO 3166-1 alpha-2 country code.", examples=["DE"])
    country_name: str = Field(description="The country's English name.", examples=["Germany"])
    debtor_types: list[str] = Field(
        description="The debtor types some partner takes there: `private`, `company`.",
        examples=[["private", "company"]],
    )
    available_partners: int = Field(
        description="How many partners collect in this country.", examples=[3]
    )
    min_amount: int | None = Field(
        description="The smallest debt any of them takes, in the smallest currency unit "
        "(null without partners).",
        examples=[5000],
    )
    max_amount: int | None = Field(
        description="The largest debt any of them takes (null without partners).",
        examples=[50000000],
    )
    currency: str = Field(description="The currency of the amounts, lower case.", examples=["eur"])
    avg_success_fee_pct: float | None = Field(
        description="The partners' average base success fee, in percent (null without "
        "partners); the age surcharge comes on top.",
        examples=[14.5],
    )
    status: Literal["available", "limited", "unavailable"] = Field(
        description="`available`: private and company debtors can be placed; `limited`: only "
        "one of the two; `unavailable`: no partner.",
        examples=["available"],
    )


class PartnerAssignment(BaseModel):
    """The partner create would assign."""

    partner_id: str = Field(
        description="The partner's id (`cp_...`).", examples=["cp_partner_de_01"]
    )
    partner_name: str = Field(description="The partner's name.", examples=["CollectMax GmbH"])
    partner_country: str = Field(
        description="The country it would collect in (the debtor's).", examples=["DE"]
    )


class RequiredAction(BaseModel):
    """Something to supply before, or after, creating the case."""

    type: str = Field(
        description="What is missing: `provide_address`, `provide_contact_details` or "
        "`provide_contact_person`.",
        examples=["provide_address"],
    )
    message: str = Field(
        description="What to do, for a person.",
        examples=[
            "Submitting the case needs the debtor's postal address (line1, city, postal_code, "
            "country)."
        ],
    )
    solution_url: str = Field(
        description="Where the fix is explained (the create operation in these docs).",
        examples=["http://127.0.0.1:8000/redoc#operation/create_collection_case"],
    )
    is_blocking: bool = Field(
        description="true: create refuses the case until it is done; false: create accepts "
        "it, and the case waits in `needs_details`.",
        examples=[True],
    )


class PricingPreview(BaseModel):
    """The success fee the case would be charged, in percent of what is collected."""

    base_success_fee_pct: float = Field(description="The partner's base fee.", examples=[12.5])
    age_surcharge_pct: float = Field(
        description="The surcharge for the debt's age, in tiers by days since `due_date` (0 "
        "up to 90 days, then 2, 5, 8 and 12).",
        examples=[2.0],
    )
    total_success_fee_pct: float = Field(
        description="Base plus surcharge: the fee the case would keep for its whole life.",
        examples=[14.5],
    )


class CollectionCasePreview(BaseModel):
    """What create would decide for this debt, with nothing stored."""

    is_eligible: bool = Field(
        description="Whether a partner would take the case now.", examples=[True]
    )
    ineligibility_reason: str | None = Field(
        description="Why no partner would (null when eligible).", examples=[None]
    )
    partner_assignment: PartnerAssignment | None = Field(
        description="The partner create would assign (null when not eligible)."
    )
    required_actions: list[RequiredAction] = Field(
        description="What create still needs, or what the case would wait for (empty when "
        "nothing is missing).",
        examples=[[]],
    )
    pricing_preview: PricingPreview | None = Field(
        description="The fee the case would be charged (null when not eligible)."
    )


def _country(value: str, param: str) -> str:
    try:
        return country_code(value)
    except ValueError as exc:
        raise ValidationFailed(f"Invalid {param}: {exc}.", param=param) from None


@router.get(
    "/v1/collection_partners",
    response_model=ListObject[CollectionPartner],
    operation_id="list_collection_partners",
    summary="List collection partners",
    responses=error_responses(
        400,
        422,
        examples={422: [breaks_rule("country", "'XX' is not an ISO 3166-1 alpha-2 country code")]},
    ),
)
async def list_collection_partners(
    access: PartnersRead,
    page: Annotated[ListParams, Depends(page_params)],
    country: Annotated[
        str | None,
        Query(
            max_length=10,
            description="Only partners collecting in this country (ISO 3166-1 alpha-2).",
            examples=["DE"],
        ),
    ] = None,
) -> Response:
    """The partner registry, best success rate first, optionally only the partners that
    collect in one `country`. The same for every account; publishable keys may read it.
    """
    found = await partners.page_partners(
        access.conn, page, _country(country, "country") if country else None
    )
    return json_response(found.envelope(partners.render, url="/v1/collection_partners"))


@router.get(
    "/v1/collection_partners/{partner_id}",
    response_model=CollectionPartner,
    operation_id="retrieve_collection_partner",
    summary="Retrieve a collection partner",
    responses=error_responses(404),
)
async def retrieve_collection_partner(
    partner_id: Annotated[
        str, Path(description="The partner's id (`cp_...`).", examples=[PARTNER_ID])
    ],
    access: PartnersRead,
) -> Response:
    """One partner: contact details, countries, debtor types, success rate and average time
    to resolution. A case's `collection_partner.id` names its partner.
    """
    row = await partners.get_partner(access.conn, partner_id)
    if row is None:
        raise not_found("collection_partner", partner_id)
    return json_response(partners.render(row))


@router.get(
    "/v1/collection_coverage",
    response_model=ListObject[Coverage],
    operation_id="list_collection_coverage",
    summary="Coverage of every country the registry serves",
    responses=error_responses(400, 422),
)
async def list_coverage(
    access: CoverageRead, page: Annotated[ListParams, Depends(page_params)]
) -> Response:
    """One coverage object per country some partner collects in, by country code: which
    debtor types can be placed, how many partners, the amount bounds and the average fee.
    Check it before you onboard debts from a new country.
    """
    data, has_more = await partners.page_coverage(access.conn, page)
    return json_response(list_object(data, has_more=has_more, url="/v1/collection_coverage"))


@router.get(
    "/v1/collection_coverage/{country}",
    response_model=Coverage,
    operation_id="retrieve_collection_coverage",
    summary="Coverage of one country",
    responses=error_responses(404),
)
async def retrieve_coverage(
    country: Annotated[
        str, Path(description="ISO 3166-1 alpha-2 country code, any case.", examples=["DE"])
    ],
    access: CoverageRead,
) -> Response:
    """Coverage of one country; a real country no partner serves answers `status:
    unavailable` (not 404). A code that is no country is 404.
    """
    try:
        code = country_code(country)
    except ValueError:
        raise not_found("country", country, param="country") from None
    rows = await partners.registry(access.conn, code)
    return json_response(partners.coverage_for(code, rows))


@router.post(
    "/v1/collection_case_previews",
    response_model=CollectionCasePreview,
    operation_id="create_collection_case_preview",
    summary="Preview a case: eligibility, partner, actions, price (nothing stored)",
    openapi_extra=json_request(PreviewParams, example=PREVIEW_EXAMPLE),
    responses=error_responses(
        400,
        413,
        415,
        422,
        examples={
            400: [
                example(
                    "parameter_missing",
                    "Missing required param: debtor.country (or debtor.address.country).",
                    "debtor.country",
                ),
                unknown("debtor.nmae"),
            ],
            422: [breaks_rule("currency", "'EUX' is not an ISO 4217 currency code")],
        },
    ),
)
async def preview_collection_case(request: Request, access: PreviewsRead) -> Response:
    """Ask what create would decide for a debt, before you submit it: whether a partner would
    take it and which, what create would still need (`required_actions`: an address blocks,
    missing contact details only delay) and the success fee, base plus the surcharge for the
    debt's age. Takes create's body; only amount, currency, debtor type, name and country and
    the due date are required. Nothing is stored and no event is written.
    """
    params = await parse_json(request, PreviewParams)
    preview = await previews.preview(access.conn, params, base_url=str(request.base_url))
    return await access.respond(preview)
