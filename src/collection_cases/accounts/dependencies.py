"""Authentication dependencies: who is calling, and may they do this."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from starlette.responses import Response

from collection_cases import ratelimit, versions
from collection_cases.accounts.service import Principal, authenticate
from collection_cases.db import Connection
from collection_cases.errors import AuthenticationFailed, NotFound, PermissionDenied
from collection_cases.idempotency import service as idempotency
from collection_cases.idempotency.service import Idempotency
from collection_cases.query import reject_unknown_query


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


async def _principal(request: Request, conn: Connection) -> Principal:
    raw = _raw_key(request)
    principal = await authenticate(conn, raw, request.app.state.key_cache)
    if principal is None:
        raise AuthenticationFailed("Invalid API key provided.")
    request.state.principal = principal
    requested = request.headers.get("casapay-version")
    request.state.api_version = (
        versions.check(requested) if requested is not None else principal.api_version
    )
    state = request.app.state
    await ratelimit.check(
        state.rate_limiter,
        state.settings.rate_limit_per_second,
        conn,
        principal.key_id,
        state.rate_grants,
    )
    reject_unknown_query(request)
    return principal


@dataclass(slots=True)
class Access:
    """A request's connection and the principal it was authenticated as."""

    conn: Connection
    principal: Principal
    idempotency: Idempotency | None = None

    async def respond(self, content: Any, status_code: int = 200) -> Response:
        """The JSON response of a write, stored with its effect when an Idempotency-Key came."""
        body = orjson.dumps(content)
        if self.idempotency is not None:
            await idempotency.store(self.conn, self.principal, self.idempotency, status_code, body)
        return Response(body, status_code=status_code, media_type="application/json")


async def authorize(request: Request, conn: Connection, *, write: bool) -> Principal:
    """The caller's principal, if its key may read (or, with `write`, change) data."""
    principal = await _principal(request, conn)
    if write and not principal.can_write:
        raise PermissionDenied(
            f"This {principal.kind} key is read-only; use a secret key (sk_...) to make changes."
        )
    if principal.kind == "publishable":
        raise PermissionDenied("Publishable keys cannot read this resource; use a secret key.")
    return principal


async def _read_access(request: Request) -> AsyncIterator[Access]:
    async with request.app.state.pool.connection() as conn:
        yield Access(conn, await authorize(request, conn, write=False))


async def _write_access(request: Request) -> AsyncIterator[Access]:
    async with request.app.state.pool.connection() as conn:
        principal = await authorize(request, conn, write=True)
        # One transaction per request, committed when the endpoint returns and before the
        # response is sent (scope="function"): a 201 always means the row is durable.
        async with conn.transaction():
            idem = None
            key = idempotency.key_from(request)
            if key is not None:
                idem = Idempotency(key, idempotency.fingerprint(request, await request.body()))
                await idempotency.begin(conn, principal, idem)  # may raise Replay
            yield Access(conn, principal, idem)


async def _any_key_access(request: Request) -> AsyncIterator[Access]:
    # Registry data (partners, coverage, previews) reveals no debtor: any valid key will do.
    async with request.app.state.pool.connection() as conn:
        yield Access(conn, await _principal(request, conn))


async def _test_helper_access(request: Request) -> AsyncIterator[Access]:
    # Test helpers do not exist for live keys, whatever the key may do: 404 before 403.
    async with request.app.state.pool.connection() as conn:
        principal = await _principal(request, conn)
        if not principal.is_test:
            raise NotFound(
                f"Unrecognized request URL ({request.method} {request.url.path}): test "
                "helpers exist only for test-mode keys.",
                code="url_invalid",
            )
    async for access in _write_access(request):
        yield access


# One dependency each (connection + key + permission): every dependency level costs CPU.
ReadAccess = Annotated[Access, Depends(_read_access, scope="function")]
WriteAccess = Annotated[Access, Depends(_write_access, scope="function")]
AnyKeyAccess = Annotated[Access, Depends(_any_key_access, scope="function")]
TestHelperAccess = Annotated[Access, Depends(_test_helper_access, scope="function")]
