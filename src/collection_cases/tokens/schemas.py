"""Request and response shapes of tokens (platform/tokens)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, StrictStr

from collection_cases.accounts import permissions
from collection_cases.pagination import MAX_TIMESTAMP
from collection_cases.validation import Name, StrictModel

TokenType = Literal["secret", "publishable", "restricted"]
# Checked by the service (an unknown name is a 400 naming it); the enum documents the names.
PermissionName = Annotated[
    StrictStr, Field(max_length=100, json_schema_extra={"enum": sorted(permissions.KNOWN)})
]


class TokenCreate(StrictModel):
    """`POST /v1/tokens`: the API creates restricted keys (secret and publishable keys are the
    operator's, made with `collection-cases keys create`)."""

    name: Name = Field(description="Human-readable name, 1 to 200 characters")
    type: TokenType | None = Field(
        default=None,
        description="restricted (the default). secret and publishable keys are refused with "
        "400: the operator makes them with the CLI",
    )
    permissions: list[PermissionName] = Field(
        min_length=1,
        max_length=100,
        description="resource:read or resource:write names (write implies read)",
        examples=[["payment_intents:read", "events:read", "webhook_endpoints:write"]],
    )
    expires_at: StrictInt | None = Field(
        default=None,
        ge=0,
        le=MAX_TIMESTAMP,
        description="Unix time in the future after which the key stops working (null: never)",
    )


class TokenRevoke(StrictModel):
    """`POST /v1/tokens/:id/revoke` takes no parameters (an empty body, or {})."""


class Token(BaseModel):
    """The token object (the key itself is never shown again after creation)."""

    id: str = Field(examples=["tok_5f0c2d7a10b1e3c4d5e6f708"])
    object: Literal["token"]
    name: str
    type: TokenType
    key_prefix: str = Field(description="First 8 characters of the key", examples=["rk_test_"])
    permissions: list[str] = Field(description="Granted permissions (restricted keys; else [])")
    last_used_at: int | None = Field(description="Last use, to the minute (null: never used)")
    expires_at: int | None = Field(description="Expiry (null for non-expiring)")
    livemode: bool
    created: int
    revoked: bool = Field(description="Whether the token was revoked (it no longer works)")


class CreatedToken(Token):
    """The create response: the token object and, this once, the full key."""

    key: str = Field(
        description="The full API key: shown only here, store it securely", examples=["rk_test_..."]
    )
