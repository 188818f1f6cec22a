"""Request and response shapes of the collection_case resource."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt, ValidationInfo, field_validator

from collection_cases.validation import (
    Country,
    Currency,
    DueDate,
    Email,
    Metadata,
    Name,
    ShortText,
    StrictModel,
    Text100,
    Text255,
    Text500,
    phone_is_possible,
)

DebtorType = Literal["company", "private"]
CaseStatus = Literal["pending_verification", "needs_details", "active", "paused", "closed"]
MAX_AMOUNT = 999_999_999_999


class AddressCreate(StrictModel):
    line1: Name
    line2: Text100 | None = None
    city: Name
    state: Text100 | None = None
    postal_code: ShortText
    country: Country


class DebtorFields(StrictModel):
    """The debtor as a preview takes it: everything but type and name may come later."""

    # Field order matters: validators below read the fields declared before them.
    type: DebtorType
    name: Name
    address: AddressCreate | None = None
    country: Country | None = Field(
        default=None, description="Defaults to address.country when omitted."
    )
    contact_person: Name | None = Field(default=None, description="Only for companies.")
    email: Email | None = None
    phone: Text100 | None = None

    @field_validator("contact_person")
    @classmethod
    def _contact_person_for_companies(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("type") == "private":
            raise ValueError("is only accepted for debtors of type 'company'")
        return value

    @field_validator("phone")
    @classmethod
    def _possible_phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        address = info.data.get("address")
        region = info.data.get("country") or (address.country if address else None)
        if not phone_is_possible(value, region):
            raise ValueError("is not a possible phone number; use international format (+49 ...)")
        return value.strip()


class DebtorCreate(DebtorFields):
    """The debtor of a case: the address is required."""

    address: AddressCreate


# The request body of the vendor's create example, as the API docs pre-fill it.
CREATE_EXAMPLE: dict[str, Any] = {
    "amount_to_recover": 360000,
    "currency": "eur",
    "debtor": {
        "type": "private",
        "name": "John Smith",
        "email": "john.smith@example.com",
        "phone": "+49 170 1234567",
        "address": {
            "line1": "Friedrichstraße 123",
            "city": "Berlin",
            "postal_code": "10117",
            "country": "DE",
        },
    },
    "creditor_reference": "INV-2024-0892",
    "due_date": "2024-11-01",
}


class CollectionCaseCreate(StrictModel):
    """Body of POST /v1/collection_cases."""

    amount_to_recover: StrictInt = Field(ge=1, le=MAX_AMOUNT)
    currency: Currency
    debtor: DebtorCreate
    creditor_reference: Text255 | None = None
    due_date: DueDate = Field(description="YYYY-MM-DD, not in the future")
    metadata: Metadata | None = None


# Response shapes: documentation of what the API returns (bodies are rendered directly).


class Address(BaseModel):
    line1: str
    line2: str | None
    city: str
    state: str | None
    postal_code: str
    country: str


class Debtor(BaseModel):
    type: DebtorType
    name: str
    contact_person: str | None
    email: str | None
    phone: str | None
    address: Address
    country: str


class CollectionPartnerSummary(BaseModel):
    id: str
    name: str
    email: str
    phone: str
    site: str


class CollectionCase(BaseModel):
    """The collection_case object."""

    id: str = Field(examples=["dc_019abf2e6a3b7c1d8e9f00112233aabb"])
    object: Literal["collection_case"]
    reference: str = Field(examples=["Q8OAXF3W"])
    status: CaseStatus
    close_code: str | None
    amount_to_recover: int
    remainder: int
    currency: str = Field(examples=["eur"])
    debtor: Debtor
    collection_partner: CollectionPartnerSummary | None
    requirements: list[str] = Field(
        description="What must be supplied before a needs_details case can proceed."
    )
    creditor_reference: str | None
    due_date: int = Field(description="Unix time of 00:00 UTC on the due date")
    is_test: bool
    metadata: dict[str, str]
    created: int


class CollectionCaseList(BaseModel):
    object: Literal["list"]
    data: list[CollectionCase]
    has_more: bool
    url: str


def unix_date(value: date) -> int:
    return (value - date(1970, 1, 1)).days * 86400


class DebtorContactUpdate(StrictModel):
    """Contact details that may change while a case is open ("" removes one)."""

    email: str | None = None
    phone: Text100 | None = None
    contact_person: Text100 | None = None

    @field_validator("email")
    @classmethod
    def _email_or_empty(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return value
        from collection_cases.validation import email_address

        return email_address(value)

    @field_validator("phone")
    @classmethod
    def _phone_or_empty(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return value
        if not phone_is_possible(value, None):
            raise ValueError("is not a possible phone number; use international format (+49 ...)")
        return value.strip()


class CollectionCaseUpdate(StrictModel):
    """Body of POST /v1/collection_cases/:id. Metadata merges; "" removes a key."""

    metadata: dict[str, Text500] | None = None
    creditor_reference: Text255 | None = None
    debtor: DebtorContactUpdate | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        from collection_cases.validation import check_metadata

        return None if value is None else check_metadata(value)


class NoParams(StrictModel):
    """Actions that take no parameters (an empty body, or {})."""


class CloseParams(StrictModel):
    close_code: Literal["withdrawn"] = "withdrawn"


class PreviewParams(StrictModel):
    """Body of POST /v1/collection_case_previews.

    What the previews page documents (amount, currency, debtor type, name and country, due
    date); the rest of create's body is accepted too. What create would still need (an
    address, contact details) is reported in `required_actions`, never refused.
    """

    amount_to_recover: StrictInt = Field(ge=1, le=MAX_AMOUNT)
    currency: Currency
    debtor: DebtorFields
    creditor_reference: Text255 | None = None
    due_date: DueDate = Field(description="YYYY-MM-DD, not in the future")
    metadata: Metadata | None = None
