"""Access dependencies: who is calling, and may they do this.

Every operation declares what it needs with one of the aliases at the end (`CasesWrite`,
`EventsRead`, ...): a `Requirement` (a permission, and for some operations a secret key or a
test-mode key) checked once the key is known. The dependency also owns the request's one
connection and, for operations that change data, its one transaction with Idempotency-Key
handling. The permission matrix test reads the requirements back from the route table, so an
operation that declares none fails it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import Scope

from collection_cases import db, openapi_docs, ratelimit, versions
from collection_cases.accounts.permissions import PUBLISHABLE, Level
from collection_cases.accounts.service import Principal, authenticate
from collection_cases.db import Connection
from collection_cases.errors import AuthenticationFailed, NotFound, PermissionDenied
from collection_cases.idempotency import service as idempotency
from collection_cases.idempotency.service import Idempotency
from collection_cases.query import reject_unknown_query


def _headers(scope: Scope) -> tuple[str | None, str | None]:
    """Authorization and CasaPay-Version (the first of each, as `request.headers.get` reads
    them), in one pass over the raw headers rather than two lookups."""
    authorization = version = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"casapay-version" and version is None:
            version = value.decode("latin-1")
    return authorization, version


def _raw_key(header: str | None) -> str:
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
    authorization, requested = _headers(request.scope)
    raw = _raw_key(authorization)
    state = request.app.state
    principal = await authenticate(conn, raw, state.key_cache)
    if principal is None:
        raise AuthenticationFailed("Invalid API key provided.")
    # What request.state shows (the scope's "state"), set without its attribute layer.
    request_state = request.scope.setdefault("state", {})
    request_state["principal"] = principal
    request_state["api_version"] = (
        versions.check(requested) if requested is not None else principal.api_version
    )
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


@dataclass(frozen=True, slots=True)
class Requirement:
    """What one operation needs of the caller's key."""

    resource: str
    level: Level
    # Only secret keys (tokens: a restricted key must not mint or revoke keys).
    secret_only: bool = False
    # Only test-mode keys: for live keys the operation does not exist (404, before any 403).
    test_only: bool = False

    @property
    def permission(self) -> str:
        return f"{self.resource}:{self.level}"

    def check(self, request: Request, principal: Principal) -> None:
        if self.test_only and not principal.is_test:
            raise NotFound(
                f"Unrecognized request URL ({request.method} {request.url.path}): test "
                "helpers exist only for test-mode keys.",
                code="url_invalid",
            )
        if self.secret_only and principal.kind != "secret":
            raise PermissionDenied(
                f"Only secret keys manage {self.resource}: this {principal.kind} key cannot, "
                f"even with the permission {self.permission}."
            )
        if not principal.allows(self.resource, self.level):
            raise PermissionDenied(
                f"This key lacks the permission {self.permission}. {_hint(principal.kind)}"
            )


def _hint(kind: str) -> str:
    if kind == "publishable":
        return f"Publishable keys may only use {', '.join(sorted(PUBLISHABLE))}."
    return (
        "A restricted key has only the permissions it was created with (resource:write also "
        "grants resource:read); secret keys have every permission."
    )


async def authorize(request: Request, conn: Connection, requirement: Requirement) -> Principal:
    """The caller's principal, if its key meets `requirement` (else 401, 403 or 404)."""
    principal = await _principal(request, conn)
    requirement.check(request, principal)
    return principal


class AccessDependency:
    """An operation's dependency: one connection, the caller checked against `requirement`
    and one transaction (with Idempotency-Key) around the whole request."""

    transaction = True

    def __init__(self, requirement: Requirement) -> None:
        self.requirement = requirement

    def __repr__(self) -> str:
        return f"require({self.requirement.permission!r}, transaction={self.transaction})"

    async def __call__(self, request: Request) -> AsyncIterator[Access]:
        # getconn/putconn rather than pool.connection(): one context manager less per request
        # (connections are in autocommit; the transaction is explicit).
        pool: db.Pool = request.app.state.pool
        conn = await pool.getconn()
        try:
            principal = await authorize(request, conn, self.requirement)
            # One transaction per request, committed when the endpoint returns and before the
            # response is sent (scope="function"): a 201 always means the row is durable.
            async with conn.transaction():
                idem = None
                key = idempotency.key_from(request)
                if key is not None:
                    idem = Idempotency(key, idempotency.fingerprint(request, await request.body()))
                    await idempotency.begin(conn, principal, idem)  # may raise Replay
                yield Access(conn, principal, idem)
        finally:
            await pool.putconn(conn)


class ReadAccessDependency(AccessDependency):
    """The same for an operation that needs no transaction (reads): a plain coroutine, not a
    generator (measurably cheaper per request: no exit stack). The connection is held for the
    request and given back by RequestContextMiddleware (`db.release`) once it is answered."""

    transaction = False

    async def __call__(self, request: Request) -> Access:  # type: ignore[override]
        conn = await db.hold(request.app.state.pool, request.scope["state"])
        return Access(conn, await authorize(request, conn, self.requirement))


def require(
    resource: str,
    level: Level,
    *,
    transaction: bool | None = None,
    secret_only: bool = False,
    test_only: bool = False,
) -> AccessDependency:
    """The dependency of an operation that needs `resource:level`; writes run in one
    transaction unless `transaction` says otherwise."""
    requirement = Requirement(resource, level, secret_only=secret_only, test_only=test_only)
    if transaction is None:
        transaction = level == "write"
    return AccessDependency(requirement) if transaction else ReadAccessDependency(requirement)


@dataclass(frozen=True, slots=True)
class Gate:
    """A requirement the route checks itself, on a connection it opens when it chooses
    (uploads: no connection is held while the bytes stream in)."""

    request: Request
    requirement: Requirement

    async def authorize(self, conn: Connection) -> Principal:
        return await authorize(self.request, conn, self.requirement)


class GateDependency:
    def __init__(self, requirement: Requirement) -> None:
        self.requirement = requirement

    def __repr__(self) -> str:
        return f"gate({self.requirement.permission!r})"

    async def __call__(self, request: Request) -> Gate:
        return Gate(request, self.requirement)


def requirement_of(route: APIRoute) -> Requirement | None:
    """The requirement a route declares through its dependencies (None: it declares none)."""
    pending = list(route.dependant.dependencies)
    while pending:
        current = pending.pop()
        if isinstance(current.call, AccessDependency | GateDependency):
            return current.call.requirement
        pending.extend(current.dependencies)
    return None


def api_routes(routes: Any) -> Iterator[APIRoute]:
    """Every API route of the app's route list (flat: `app._add_routes`)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route


def document_permissions(routes: Any, schema: dict[str, Any]) -> None:
    """Write each operation's requirement into the OpenAPI document: `x-permission`, a line
    of its description, and its 403 answer (with the body a key lacking it gets)."""
    paths = schema.get("paths", {})
    for route in api_routes(routes):
        requirement = requirement_of(route)
        if requirement is None:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            operation["x-permission"] = requirement.permission
            needs = f"Needs the permission `{requirement.permission}`"
            if requirement.secret_only:
                needs += " and a secret key"
            if requirement.test_only:
                needs += " and a test-mode key"
            operation["description"] = f"{needs}.\n\n{operation.get('description', '')}".strip()
            responses = operation.setdefault("responses", {})
            forbidden = responses.setdefault(
                "403", {"description": "The key lacks the permission this operation needs"}
            )
            denied = [
                openapi_docs.example(
                    "permission_denied",
                    f"This key lacks the permission {requirement.permission}. "
                    + _hint("restricted"),
                    None,
                )
            ]
            if requirement.secret_only:
                denied.append(
                    openapi_docs.example(
                        "permission_denied",
                        f"Only secret keys manage {requirement.resource}: this restricted key "
                        f"cannot, even with the permission {requirement.permission}.",
                        None,
                        name="secret_only",
                    )
                )
            _add_examples(forbidden, denied, 403)
            if requirement.test_only:
                path = re.sub(r"\{case_id\}", openapi_docs.CASE_ID, route.path_format)
                live = openapi_docs.example(
                    "url_invalid",
                    f"Unrecognized request URL ({method} {path}): test helpers exist only "
                    "for test-mode keys.",
                    None,
                    name="live_key",
                )
                _add_examples(responses.setdefault("404", {"description": ""}), [live], 404)


def _add_examples(response: dict[str, Any], examples: list[Any], status: int) -> None:
    content = response.setdefault("content", {}).setdefault("application/json", {})
    content.setdefault("schema", {"$ref": "#/components/schemas/ErrorResponse"})
    content.setdefault("examples", {}).update(openapi_docs.media(examples, status))


# One dependency per operation (connection + key + permission): every level costs CPU.
CasesRead = Annotated[Access, Depends(require("collection_cases", "read"), scope="function")]
CasesWrite = Annotated[Access, Depends(require("collection_cases", "write"), scope="function")]
CaseFilesRead = Annotated[Access, Depends(require("case_files", "read"), scope="function")]
CaseFilesUpload = Annotated[Gate, Depends(GateDependency(Requirement("case_files", "write")))]
CaseChatsRead = Annotated[Access, Depends(require("case_chats", "read"), scope="function")]
CaseChatsWrite = Annotated[Access, Depends(require("case_chats", "write"), scope="function")]
DebtPaymentsRead = Annotated[Access, Depends(require("debt_payments", "read"), scope="function")]
PartnersRead = Annotated[Access, Depends(require("collection_partners", "read"), scope="function")]
CoverageRead = Annotated[Access, Depends(require("collection_coverage", "read"), scope="function")]
# A preview stores nothing, so a read permission; but it is a POST, so it honours an
# Idempotency-Key like every POST (its response is kept and replayed): a transaction.
PreviewsRead = Annotated[
    Access,
    Depends(require("collection_case_previews", "read", transaction=True), scope="function"),
]
EventsRead = Annotated[Access, Depends(require("events", "read"), scope="function")]
WebhookEndpointsRead = Annotated[
    Access, Depends(require("webhook_endpoints", "read"), scope="function")
]
WebhookEndpointsWrite = Annotated[
    Access, Depends(require("webhook_endpoints", "write"), scope="function")
]
TokensRead = Annotated[Access, Depends(require("tokens", "read"), scope="function")]
# Minting and revoking keys: secret keys only, whatever a restricted key was granted.
TokensManage = Annotated[
    Access, Depends(require("tokens", "write", secret_only=True), scope="function")
]
# The partner's side of a case, played by the creditor in test mode.
TestHelperAccess = Annotated[
    Access, Depends(require("collection_cases", "write", test_only=True), scope="function")
]
