"""HTTP routes of tokens (platform/tokens): create, retrieve, list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from collection_cases.accounts.dependencies import TokensManage, TokensRead
from collection_cases.body import json_request, json_response, parse_json, parse_optional_json
from collection_cases.openapi_docs import error_responses
from collection_cases.pagination import ListObject, ListParams, list_params
from collection_cases.tokens import service as tokens
from collection_cases.tokens.schemas import CreatedToken, Token, TokenCreate, TokenRevoke

router = APIRouter(prefix="/v1/tokens", tags=["Tokens"])
TokenId = Annotated[str, Path(description="tok_...")]


@router.post(
    "",
    status_code=201,
    response_model=CreatedToken,
    summary="Create a restricted key (the key is shown only in this response)",
    openapi_extra=json_request(TokenCreate),
    responses=error_responses(400, 403, 413, 415, 422),
)
async def create_token(request: Request, access: TokensManage) -> Response:
    params = await parse_json(request, TokenCreate)
    token = await tokens.create_from_request(access.conn, principal=access.principal, params=params)
    return await access.respond(token, status_code=201)


@router.get(
    "",
    response_model=ListObject[Token],
    summary="List the account's tokens in this mode (revoked ones too)",
    responses=error_responses(400, 403, 422),
)
async def list_tokens(
    access: TokensRead, page: Annotated[ListParams, Depends(list_params)]
) -> Response:
    found = await tokens.list_tokens(access.conn, principal=access.principal, params=page)
    return json_response(found.envelope(tokens.render, url=router.prefix))


@router.get(
    "/{token_id}",
    response_model=Token,
    summary="Retrieve a token",
    responses=error_responses(403, 404),
)
async def retrieve_token(token_id: TokenId, access: TokensRead) -> Response:
    return json_response(
        await tokens.get_token(access.conn, principal=access.principal, token_id=token_id)
    )


@router.post(
    "/{token_id}/revoke",
    response_model=Token,
    summary="Revoke a token: its key stops working",
    responses=error_responses(400, 403, 404),
)
async def revoke_token(request: Request, token_id: TokenId, access: TokensManage) -> Response:
    await parse_optional_json(request, TokenRevoke)
    token = await tokens.revoke_token(access.conn, token_id=token_id, scope=access.principal.scope)
    return await access.respond(token)
