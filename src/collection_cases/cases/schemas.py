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
    """The debtor's postal address."""

    line1: Name = Field(
        description="Street and house number (1 to 200 characters).",
        examples=["Friedrichstraße 123"],
    )
    line2: Text100 | None = Field(
        default=None,
        description="Apartment, floor, building or c/o line, if any.",
        examples=["3rd floor"],
    )
    city: Name = Field(description="City or town.", examples=["Berlin"])
    state: Text100 | None = Field(
        default=None,
        description="State, province or region, where the country uses one.",
        examples=["Berlin"],
    )
    postal_code: ShortText = Field(
        description="Postal code (up to 20 characters).", examples=["10117"]
    )
    country: Country = Field(
        description="ISO 3166-1 alpha-2 country code, any case (returned upper case).",
        examples=["DE"],
    )


class DebtorFields(StrictModel):
    """The debtor as a preview takes it: everything but type and name may come later."""

    # Field order matters: validators below read the fields declared before them.
    type: DebtorType = Field(
        description="`private` for a person, `company` for a business; partners specialise in "
        "one or both.",
        examples=["private"],
    )
    name: Name = Field(
        description="The debtor's full name, or the company's registered name (1 to 200 "
        "characters).",
        examples=["John Smith"],
    )
    address: AddressCreate | None = Field(
        default=None, description="The debtor's postal address (create requires it)."
    )
    country: Country | None = Field(
        default=None,
        description="ISO 3166-1 alpha-2 code of the country whose partners work the case; "
        "defaults to `address.country` when omitted.",
        examples=["DE"],
    )
    contact_person: Name | None = Field(
        default=None,
        description="Who to speak to at a company debtor; refused for private debtors. A "
        "company without one is `needs_details`.",
        examples=["Erika Mustermann"],
    )
    email: Email | None = Field(
        default=None,
        description="The debtor's e-mail address. A case needs an e-mail address or a phone "
        "number before a partner takes it.",
        examples=["john.smith@example.com"],
    )
    phone: Text100 | None = Field(
        default=None,
        description="The debtor's phone number, in international format (`+49 ...`) or "
        "national format for the debtor's country.",
        examples=["+49 170 1234567"],
    )

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

    address: AddressCreate = Field(description="Where the debtor lives or is registered.")


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
# The quickstart's preview: what create would decide, before the address is known.
PREVIEW_EXAMPLE: dict[str, Any] = {
    "amount_to_recover": 360000,
    "currency": "eur",
    "debtor": {
        "type": "private",
        "name": "John Smith",
        "email": "john.smith@example.com",
        "country": "DE",
    },
    "due_date": "2024-11-01",
}
# The metadata page's example, on a case.
UPDATE_EXAMPLE: dict[str, Any] = {
    "metadata": {"property_id": "prop_456", "lease_start": "2025-01-01", "unit_number": "4B"}
}
CLOSE_EXAMPLE: dict[str, Any] = {"close_code": "withdrawn"}

AMOUNT_DESCRIPTION = (
    "The debt, as an integer in the currency's smallest unit (cents for eur: 360000 is "
    "3,600.00 EUR), 1 to 999,999,999,999."
)
CURRENCY_DESCRIPTION = "ISO 4217 currency code, any case (returned lower case)."
DUE_DATE_DESCRIPTION = (
    "When the debt fell due, `YYYY-MM-DD`; not in the future (a debt not yet due cannot be "
    "collected). The age of the debt sets the price's surcharge."
)
REFERENCE_DESCRIPTION = "Your own reference for the debt, such as an invoice number (up to 255)."
METADATA_DESCRIPTION = (
    "Your key-value pairs, stored and returned as given: up to 50 keys of up to 40 characters, "
    "string values of up to 500."
)


class CollectionCaseCreate(StrictModel):
    """Body of POST /v1/collection_cases."""

    amount_to_recover: StrictInt = Field(
        ge=1, le=MAX_AMOUNT, description=AMOUNT_DESCRIPTION, examples=[360000]
    )
    currency: Currency = Field(description=CURRENCY_DESCRIPTION, examples=["eur"])
    debtor: DebtorCreate = Field(description="Who owes the money.")
    creditor_reference: Text255 | None = Field(
        default=None, description=REFERENCE_DESCRIPTION, examples=["INV-2024-0892"]
    )
    due_date: DueDate = Field(description=DUE_DATE_DESCRIPTION, examples=["2024-11-01"])
    metadata: Metadata | None = Field(
        default=None,
        description=METADATA_DESCRIPTION,
        examples=[{"property_id": "prop_456", "tenant_id": "ten_789"}],
    )


# Response shapes: documentation of what the API returns (bodies are rendered directly).


class Address(BaseModel):
    """The debtor's postal address, as given at create."""

    line1: str = Field(description="Street and house number.", examples=["Friedrichstraße 123"])
    line2: str | None = Field(description="Second address line (null when none was given).")
    city: str = Field(description="City or town.", examples=["Berlin"])
    state: str | None = Field(description="State or region (null when none was given).")
    postal_code: str = Field(description="Postal code.", examples=["10117"])
    country: str = Field(description="ISO 3166-1 alpha-2 country code.", examples=["DE"])


class Debtor(BaseModel):
    """Who owes the money."""

    type: DebtorType = Field(description="`private` (a person) or `company`.")
    name: str = Field(description="The debtor's name.", examples=["John Smith"])
    contact_person: str | None = Field(
        description="Who to speak to at a company debtor (null for private debtors)."
    )
    email: str | None = Field(
        description="The debtor's e-mail address (null if unknown).",
        examples=["john.smith@example.com"],
    )
    phone: str | None = Field(
        description="The debtor's phone number (null if unknown).", examples=["+49 170 1234567"]
    )
    address: Address = Field(description="The debtor's postal address.")
    country: str = Field(
        description="ISO 3166-1 alpha-2 code of the country the case is collected in.",
        examples=["DE"],
    )


class CollectionPartnerSummary(BaseModel):
    """The collection partner working the case: who the debtor hears from."""

    id: str = Field(description="The partner's id (`cp_...`).", examples=["cp_partner_de_01"])
    name: str = Field(description="The partner's company name.", examples=["CollectMax GmbH"])
    email: str = Field(
        description="The partner's contact e-mail.", examples=["cases@collectmax.de"]
    )
    phone: str = Field(description="The partner's contact phone.", examples=["+49 30 1234567"])
    site: str = Field(description="The partner's website.", examples=["https://collectmax.de"])


class CollectionCase(BaseModel):
    """The collection_case object: one debt, submitted to a collection partner."""

    id: str = Field(
        description="Unique identifier: `dc_` and 32 hex digits (a time-ordered UUID).",
        examples=["dc_019abf2e6a3b7c1d8e9f00112233aabb"],
    )
    object: Literal["collection_case"] = Field(description='Always "collection_case".')
    reference: str = Field(
        description="Short reference for people (8 characters A-Z, 0-9), unique; retrieve "
        "by it at /v1/collection_cases/ref/:reference, any case.",
        examples=["Q8OAXF3W"],
    )
    status: CaseStatus = Field(
        description="Where the case stands: `pending_verification` (no partner yet), "
        "`needs_details` (see `requirements`), `active` (a partner works it), `paused`, "
        "`closed` (final).",
        examples=["active"],
    )
    close_code: str | None = Field(
        description="Why the case closed (null while open): `withdrawn` by you; `paid`, "
        "`partially_paid`, `settled`, `uncollectible`, `debtor_insolvent`, "
        "`debtor_untraceable`, `disputed` or `statute_barred` by the partner.",
        examples=[None],
    )
    amount_to_recover: int = Field(
        description="The debt submitted, in the currency's smallest unit.", examples=[360000]
    )
    remainder: int = Field(
        description="What is still owed: `amount_to_recover` less the payments collected.",
        examples=[360000],
    )
    currency: str = Field(description="ISO 4217 currency code, lower case.", examples=["eur"])
    debtor: Debtor = Field(description="The debtor, as submitted (and updated since).")
    collection_partner: CollectionPartnerSummary | None = Field(
        description="The partner working the case; null until one is assigned."
    )
    requirements: list[str] = Field(
        description="What must be supplied before a `needs_details` case can proceed: "
        "`debtor.email_or_phone`, `debtor.contact_person` (empty otherwise). Supply them with "
        "an update.",
        examples=[[]],
    )
    creditor_reference: str | None = Field(
        description="Your own reference for the debt.", examples=["INV-2024-0892"]
    )
    due_date: int = Field(
        description="When the debt fell due: Unix time of 00:00 UTC on that day.",
        examples=[1730419200],
    )
    is_test: bool = Field(
        description="true for a case made with a test key; test and live objects never mix.",
        examples=[True],
    )
    metadata: dict[str, str] = Field(
        description="Your key-value pairs.",
        examples=[{"property_id": "prop_456", "tenant_id": "ten_789"}],
    )
    created: int = Field(
        description="When the case was created (Unix time, seconds).", examples=[1706140800]
    )


class CollectionCaseList(BaseModel):
    """A page of collection cases, newest first."""

    object: Literal["list"] = Field(description='Always "list".')
    data: list[CollectionCase] = Field(description="The cases of this page.")
    has_more: bool = Field(description="Whether more cases lie beyond this page.")
    url: str = Field(
        description="The path this list was read from.", examples=["/v1/collection_cases"]
    )


_EPOCH = date(1970, 1, 1)


def unix_date(value: date) -> int:
    return (value - _EPOCH).days * 86400


class DebtorContactUpdate(StrictModel):
    """Contact details that may change while a case is open ("" removes one)."""

    email: str | None = Field(
        default=None,
        description='A new e-mail address for the debtor ("" removes it).',
        examples=["john.smith@example.org"],
    )
    phone: Text100 | None = Field(
        default=None,
        description='A new phone number, international format ("" removes it).',
        examples=["+49 170 7654321"],
    )
    contact_person: Text100 | None = Field(
        default=None,
        description='The contact person at a company debtor ("" removes it); refused for '
        "private debtors.",
        examples=["Erika Mustermann"],
    )

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

    metadata: dict[str, Text500] | None = Field(
        default=None,
        description="Merged into the case's metadata: new keys are added, given keys "
        'replaced, and a key set to "" removed.',
        examples=[{"unit_number": "4B", "tenant_id": ""}],
    )
    creditor_reference: Text255 | None = Field(
        default=None,
        description='Your own reference for the debt ("" or null clears it).',
        examples=["INV-2024-0892"],
    )
    debtor: DebtorContactUpdate | None = Field(
        default=None,
        description="New contact details for the debtor. On a `needs_details` case, "
        "supplying what `requirements` lists sends it back to verification.",
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        from collection_cases.validation import check_metadata

        return None if value is None else check_metadata(value)


class NoParams(StrictModel):
    """Actions that take no parameters (an empty body, or {})."""


class CloseParams(StrictModel):
    """Body of POST /v1/collection_cases/:id/close (optional)."""

    close_code: Literal["withdrawn"] = Field(
        default="withdrawn",
        description="Why you close the case; `withdrawn` is the one a creditor may give.",
        examples=["withdrawn"],
    )


class PreviewParams(StrictModel):
    """Body of POST /v1/collection_case_previews.

    What the previews page documents (amount, currency, debtor type, name and country, due
    date); the rest of create's body is accepted too. What create would still need (an
    address, contact details) is reported in `required_actions`, never refused.
    """

    amount_to_recover: StrictInt = Field(
        ge=1, le=MAX_AMOUNT, description=AMOUNT_DESCRIPTION, examples=[360000]
    )
    currency: Currency = Field(description=CURRENCY_DESCRIPTION, examples=["eur"])
    debtor: DebtorFields = Field(
        description="Who owes the money: `type` and `name` are required, and a `country` or "
        "an `address` for a partner to be found."
    )
    creditor_reference: Text255 | None = Field(
        default=None, description=REFERENCE_DESCRIPTION, examples=["INV-2024-0892"]
    )
    due_date: DueDate = Field(description=DUE_DATE_DESCRIPTION, examples=["2024-11-01"])
    metadata: Metadata | None = Field(
        default=None,
        description=METADATA_DESCRIPTION + " Not stored by a preview.",
        examples=[{"property_id": "prop_456"}],
    )
