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

    name: Name = Field(
        description="A name for people, saying what the key is for (1 to 200 characters).",
        examples=["Webhook Server Key"],
    )
    type: TokenType | None = Field(
        default=None,
        description="`restricted` (the default). `secret` and `publishable` keys are refused "
        "with 400: the operator makes them with the CLI.",
        examples=["restricted"],
    )
    permissions: list[PermissionName] = Field(
        min_length=1,
        max_length=100,
        description="What the key may do: `resource:read` or `resource:write` (write implies "
        "read), e.g. `collection_cases:read`. The platform's other resources are accepted and "
        "grant nothing here.",
        examples=[["payment_intents:read", "events:read", "webhook_endpoints:write"]],
    )
    expires_at: StrictInt | None = Field(
        default=None,
        ge=0,
        le=MAX_TIMESTAMP,
        description="Unix time in the future after which the key stops working (null: never).",
        examples=[1893456000],  # 2030-01-01: an example a client can send (in the future)
    )


# The tokens page's create example.
CREATE_TOKEN_EXAMPLE = {
    "name": "Webhook Server Key",
    "type": "restricted",
    "permissions": ["payment_intents:read", "events:read", "webhook_endpoints:write"],
}


class TokenRevoke(StrictModel):
    """`POST /v1/tokens/:id/revoke` takes no parameters (an empty body, or {})."""


class Token(BaseModel):
    """The token object (the key itself is never shown again after creation)."""

    id: str = Field(
        description="Unique identifier: `tok_` and 24 hex digits.",
        examples=["tok_5f0c2d7a10b1e3c4d5e6f708"],
    )
    object: Literal["token"] = Field(description='Always "token".')
    name: str = Field(description="The key's name, for people.", examples=["Webhook Server Key"])
    type: TokenType = Field(
        description="`secret` (everything), `restricted` (its `permissions` only) or "
        "`publishable` (the registry and previews only).",
        examples=["restricted"],
    )
    key_prefix: str = Field(
        description="The key's first 8 characters, to recognise it (the key itself is never "
        "shown again).",
        examples=["rk_test_"],
    )
    permissions: list[str] = Field(
        description="What a restricted key may do (empty for secret and publishable keys).",
        examples=[["collection_cases:read", "events:read"]],
    )
    last_used_at: int | None = Field(
        description="When the key last authenticated a request, to the minute (null: never).",
        examples=[1706140800],
    )
    expires_at: int | None = Field(
        description="When the key stops working (Unix time; null: never).", examples=[None]
    )
    livemode: bool = Field(
        description="true for a live key (`*_live_`), false for a test key.", examples=[False]
    )
    created: int = Field(
        description="When the token was created (Unix time, seconds).", examples=[1704067200]
    )
    revoked: bool = Field(
        description="Whether the token was revoked (its key no longer works).", examples=[False]
    )


class CreatedToken(Token):
    """The create response: the token object and, this once, the full key."""

    key: str = Field(
        description="The full API key: shown only in this response, store it securely.",
        examples=["rk_test_..."],
    )
