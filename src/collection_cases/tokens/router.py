"""HTTP routes of tokens (platform/tokens): create, retrieve, list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from collection_cases.accounts.dependencies import TokensManage, TokensRead
from collection_cases.body import json_request, json_response, parse_json, parse_optional_json
from collection_cases.openapi_docs import (
    TOKEN_ID,
    error_responses,
    example,
    missing,
    state_invalid,
)
from collection_cases.pagination import ListObject, ListParams, list_params
from collection_cases.tokens import service as tokens
from collection_cases.tokens.schemas import (
    CREATE_TOKEN_EXAMPLE,
    CreatedToken,
    Token,
    TokenCreate,
    TokenRevoke,
)

router = APIRouter(prefix="/v1/tokens", tags=["Tokens"])
TokenId = Annotated[str, Path(description="The token's id (`tok_...`).", examples=[TOKEN_ID])]


@router.post(
    "",
    status_code=201,
    response_model=CreatedToken,
    operation_id="create_token",
    summary="Create a restricted key (the key is shown only in this response)",
    openapi_extra=json_request(TokenCreate, example=CREATE_TOKEN_EXAMPLE),
    responses=error_responses(
        400,
        403,
        413,
        415,
        422,
        examples={
            400: [
                missing("permissions"),
                example(
                    "parameter_invalid",
                    "Unknown permission: 'cases:read'. Permissions are resource:read or "
                    "resource:write (write implies read), e.g. collection_cases:read; the README "
                    "lists every resource.",
                    "permissions",
                    name="unknown_permission",
                ),
            ],
            422: [
                example(
                    "parameter_invalid",
                    "Invalid expires_at: must be a Unix time in the future.",
                    "expires_at",
                )
            ],
        },
    ),
)
async def create_token(request: Request, access: TokensManage) -> Response:
    """Mint a restricted key for one job (a dashboard, a webhook receiver): it may do only
    what `permissions` grants, in this key's account and mode (`rk_test_...` from a test key).
    The answer (201) is the only one that shows the full `key`: store it. Needs a secret key:
    a restricted key cannot mint keys, whatever it was granted.
    """
    params = await parse_json(request, TokenCreate)
    token = await tokens.create_from_request(access.conn, principal=access.principal, params=params)
    return await access.respond(token, status_code=201)


@router.get(
    "",
    response_model=ListObject[Token],
    operation_id="list_tokens",
    summary="List the account's tokens in this mode (revoked ones too)",
    responses=error_responses(400, 403, 422),
)
async def list_tokens(
    access: TokensRead, page: Annotated[ListParams, Depends(list_params)]
) -> Response:
    """Every key of the account in this mode, newest first, revoked ones included: name,
    type, prefix, permissions, last use. Keys themselves are never shown. Reads only.
    """
    found = await tokens.list_tokens(access.conn, principal=access.principal, params=page)
    return json_response(found.envelope(tokens.render, url=router.prefix))


@router.get(
    "/{token_id}",
    response_model=Token,
    operation_id="retrieve_token",
    summary="Retrieve a token",
    responses=error_responses(403, 404),
)
async def retrieve_token(token_id: TokenId, access: TokensRead) -> Response:
    """One token: what the key may do, when it was last used and whether it still works."""
    return json_response(
        await tokens.get_token(access.conn, principal=access.principal, token_id=token_id)
    )


@router.post(
    "/{token_id}/revoke",
    response_model=Token,
    operation_id="revoke_token",
    summary="Revoke a token: its key stops working",
    responses=error_responses(
        400,
        403,
        404,
        examples={
            400: [
                state_invalid(f"The token {TOKEN_ID} is already revoked.", None),
            ]
        },
    ),
)
async def revoke_token(request: Request, token_id: TokenId, access: TokensManage) -> Response:
    """Turn a key off for good: requests with it answer 401 from then on (a server process
    that cached the key notices within seconds). The token stays listed with `revoked:
    true`. Takes no parameters; needs a secret key. Revoking twice is 400 `state_invalid`.
    """
    await parse_optional_json(request, TokenRevoke)
    token = await tokens.revoke_token(access.conn, token_id=token_id, scope=access.principal.scope)
    return await access.respond(token)
