"""Authentication dependencies: who is calling, and may they do this."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from collection_cases.accounts.service import Principal, authenticate
from collection_cases.db import ReadConn, WriteConn
from collection_cases.errors import AuthenticationFailed, PermissionDenied
from collection_cases.query import reject_unknown_query

# Only for the OpenAPI document (security scheme); parsing is ours so errors keep our shape.
bearer_scheme = HTTPBearer(auto_error=False, description="Secret or restricted API key")


def _raw_key(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthenticationFailed(
            "You did not provide an API key. Send it as 'Authorization: Bearer sk_test_...'.",
            code="api_key_missing",
        )
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, _, _ = decoded.partition(":")
        if user:
            return user
    raise AuthenticationFailed(
        "Malformed Authorization header. Use 'Bearer <key>' or Basic with the key as user name."
    )


async def _principal(request: Request, conn) -> Principal:  # type: ignore[no-untyped-def]
    raw = _raw_key(request)
    principal = await authenticate(conn, raw)
    if principal is None:
        raise AuthenticationFailed("Invalid API key provided.")
    request.state.principal = principal
    reject_unknown_query(request)
    return principal


async def read_principal(
    request: Request,
    conn: ReadConn,
    _: Annotated[object, Depends(bearer_scheme)] = None,
) -> Principal:
    principal = await _principal(request, conn)
    if principal.kind == "publishable":
        raise PermissionDenied("Publishable keys cannot read this resource; use a secret key.")
    return principal


async def write_principal(
    request: Request,
    conn: WriteConn,
    _: Annotated[object, Depends(bearer_scheme)] = None,
) -> Principal:
    principal = await _principal(request, conn)
    if not principal.can_write:
        raise PermissionDenied(
            f"This {principal.kind} key is read-only; use a secret key (sk_...) to make changes."
        )
    return principal


ReadAccount = Annotated[Principal, Depends(read_principal)]
WriteAccount = Annotated[Principal, Depends(write_principal)]
