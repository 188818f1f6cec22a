"""Field types shared by every resource: safe text, ISO codes, contact details, metadata."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr
from pydantic_core import PydanticCustomError

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class StrictModel(BaseModel):
    """Request models: unknown fields are errors, strings are never coerced from numbers."""

    model_config = ConfigDict(extra="forbid")


def safe_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded: refuse both
    # here so they are a 422, not a database error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _currency(value: str) -> str:
    code = value.strip()
    # Check ASCII before upper-casing: "ß".upper() is "SS", a real country code.
    if not re.fullmatch(r"[A-Za-z]{3}", code) or not pycountry.currencies.get(alpha_3=code.upper()):
        raise ValueError(f"'{value[:10]}' is not an ISO 4217 currency code")
    return code.lower()


def country_code(value: str) -> str:
    code = value.strip()
    if not re.fullmatch(r"[A-Za-z]{2}", code) or not pycountry.countries.get(alpha_2=code.upper()):
        raise ValueError(f"'{value[:10]}' is not an ISO 3166-1 alpha-2 country code")
    return code.upper()


def email_address(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address ({exc})") from None


def phone_is_possible(value: str, region: str | None) -> bool:
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return False
    # Some plans (DE) deem two-digit local numbers "possible"; no debtor is reachable on one.
    digits = len(str(number.country_code)) + len(str(number.national_number))
    return digits >= 7 and phonenumbers.is_possible_number(number)


def _due_date(value: object) -> date:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    if not _DATE_RE.match(value):
        raise ValueError("must be a date formatted YYYY-MM-DD")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a real calendar date") from None
    if parsed > datetime.now(UTC).date():
        raise ValueError("must not be in the future (a debt not yet due cannot be collected)")
    return parsed


def check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > METADATA_MAX_KEYS:
        raise ValueError(f"can have at most {METADATA_MAX_KEYS} keys")
    for key, item in value.items():
        if not key or len(key) > METADATA_KEY_MAX:
            raise ValueError(f"keys must be 1 to {METADATA_KEY_MAX} characters")
        safe_text(key)
        if len(item) > METADATA_VALUE_MAX:
            raise ValueError(f"values must be at most {METADATA_VALUE_MAX} characters")
    return value


Currency = Annotated[StrictStr, AfterValidator(_currency)]
Country = Annotated[StrictStr, AfterValidator(country_code)]
Email = Annotated[StrictStr, Field(max_length=254), AfterValidator(email_address)]
# A YYYY-MM-DD string in, a date out (never a timestamp, never a datetime).
DueDate = Annotated[date, BeforeValidator(_due_date)]
Metadata = Annotated[
    dict[StrictStr, Annotated[StrictStr, AfterValidator(safe_text)]],
    AfterValidator(check_metadata),
]

# Required, non-blank text of bounded length.
Name = Annotated[
    StrictStr,
    Field(min_length=1, max_length=200),
    AfterValidator(safe_text),
    AfterValidator(_not_blank),
]
ShortText = Annotated[
    StrictStr,
    Field(min_length=1, max_length=20),
    AfterValidator(safe_text),
    AfterValidator(_not_blank),
]
Text100 = Annotated[StrictStr, Field(max_length=100), AfterValidator(safe_text)]
Text255 = Annotated[StrictStr, Field(max_length=255), AfterValidator(safe_text)]
Text500 = Annotated[StrictStr, Field(max_length=500), AfterValidator(safe_text)]
